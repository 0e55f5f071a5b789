// The real server as separate processes, the way `npm start` runs it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface RunningServer {
  url: string;
  logs: string[];
  process: ChildProcessWithoutNullStreams;
  exited: Promise<number | null>;
}

// The "serving" line's URL, in JSON (`"url":"http://…"`) or in readable lines (`url: "http://…"`).
const SERVING_URL = /"?url"?\s*:\s*"(https?:\/\/[^"]+)"/;

/**
 * Starts `src/server.ts` as `npm start` does, with only PATH, PORT=0, LOG_FORMAT=json and `env`
 * (a variable set to undefined is left out). Log lines are kept in `logs`, or handed to `onLog`
 * instead (a long run would keep too many).
 */
export async function startServer(
  env: Record<string, string | undefined>,
  onLog?: (line: string) => void,
): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    // JSON lines, which these tests read, rather than development's readable ones.
    // On a PGlite (no TEST_DATABASE_URL) connections share its one session: no prepared statements.
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      LOG_FORMAT: 'json',
      ...(process.env.TEST_DATABASE_URL ? {} : { DATABASE_PREPARED_STATEMENTS: 'false' }),
      ...env,
    },
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (onLog) onLog(line);
        else logs.push(line);
        const url = SERVING_URL.exec(line)?.[1];
        if (url) resolve(url);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    void exited.then((code) => reject(new Error(`server exited with ${code}:\n${logs.join('\n')}`)));
  });
  return { url, logs, process: child, exited };
}

/** Runs a one-off command (`src/cli/*.ts`) to its end, with only PATH and `env`. */
export function runScript(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      env: { PATH: process.env.PATH, ...env },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

/** SIGTERM, then the exit code. */
export async function stop(server: RunningServer): Promise<number | null> {
  server.process.kill('SIGTERM');
  return server.exited;
}
