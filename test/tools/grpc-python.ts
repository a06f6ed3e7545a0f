/**
 * An independent gRPC client for tests: test/tools/layergate_grpc_client.py on grpcio (PyPI, pinned in
 * requirements-grpc.txt), run by python.sh in a venv of its own (.services/pyvenv-grpc). Its stubs are
 * generated at its start from the repository's proto/ by grpcio-tools, so it shares no code with the
 * gateway's server: a test that passes through it shows that a client in another language, made from
 * the published .proto files, can use the API.
 *
 *   await grpcPythonSetup();   // in a beforeAll with a long timeout (the venv is built the first time)
 *   const { stdout, code } = await runGrpcPython(['status', '--target', `127.0.0.1:${port}`, '--ca', certFile, '--token', token]);
 *
 * Every command prints JSON lines on stdout; a failed RPC prints {"error": "<code name>", "message"}
 * and exits 3 (see the script's docstring for the commands and their lines).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

const venvEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PYVENV: 'pyvenv-grpc', PYREQUIREMENTS: 'requirements-grpc.txt' });

export interface GrpcPythonRun {
  stdout: string;
  stderr: string;
  /** the process's exit code: 0 ok, 2 usage, 3 an RPC failed */
  code: number;
}

function python(args: string[]): Promise<GrpcPythonRun> {
  return new Promise((resolve, reject) => {
    execFile(path.join(here, 'python.sh'), args, { env: venvEnv(), maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(err);
        return;
      }
      resolve({ stdout, stderr, code: err ? (err.code as number) : 0 });
    });
  });
}

/** Create the venv if needed and generate the stubs from proto/ (slow only the first time). */
export async function grpcPythonSetup(): Promise<void> {
  const r = await python(['layergate_grpc_client.py', 'stubs']);
  if (r.code !== 0) throw new Error(`layergate_grpc_client.py stubs exited with ${r.code}:\n${r.stderr}${r.stdout}`);
}

/** Run the client with these arguments (a command and its options); never throws for a non-zero exit. */
export function runGrpcPython(args: string[]): Promise<GrpcPythonRun> {
  return python(['layergate_grpc_client.py', ...args]);
}

/** The JSON lines a run printed on stdout. */
export function jsonLines<T = Record<string, unknown>>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}
