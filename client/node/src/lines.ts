// Whole lines out of log chunks: TailLog chunks may split a line (and interleave processes).
import type { LogChunk, LogLine } from './types';

/**
 * Turn log chunks (of any number of processes and streams) into whole lines, each stream
 * reassembled on its own. A gap first flushes the partial line of its stream, then yields
 * `{line: '', gap: N}`. When the source ends, partial lines are flushed. Breaking out of the
 * loop returns (and so cancels) the source.
 */
export async function* splitLines(source: AsyncIterable<LogChunk>): AsyncGenerator<LogLine, void, undefined> {
  const partial = new Map<string, { process: string; stream: LogLine['stream']; data: Buffer }>();
  try {
    for await (const chunk of source) {
      const key = `${chunk.process}\u0000${chunk.stream}`;
      let entry = partial.get(key);
      if (!entry) {
        entry = { process: chunk.process, stream: chunk.stream, data: Buffer.alloc(0) };
        partial.set(key, entry);
      }
      if (chunk.gap > 0) {
        if (entry.data.length > 0) yield { process: entry.process, stream: entry.stream, line: entry.data.toString('utf8'), gap: 0 };
        entry.data = Buffer.alloc(0);
        yield { process: chunk.process, stream: chunk.stream, line: '', gap: chunk.gap };
        continue;
      }
      let data = entry.data.length > 0 ? Buffer.concat([entry.data, chunk.data]) : chunk.data;
      let nl = data.indexOf(0x0a);
      while (nl >= 0) {
        yield { process: chunk.process, stream: chunk.stream, line: data.subarray(0, nl).toString('utf8'), gap: 0 };
        data = data.subarray(nl + 1);
        nl = data.indexOf(0x0a);
      }
      entry.data = Buffer.from(data);
    }
    for (const entry of partial.values()) {
      if (entry.data.length > 0) yield { process: entry.process, stream: entry.stream, line: entry.data.toString('utf8'), gap: 0 };
    }
  } finally {
    partial.clear();
  }
}
