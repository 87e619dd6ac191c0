// The real topgun-server for the JS tests (tests/js-protocol, js-bindings,
// tests/browser): where the binary is, starting it on a port and stopping it,
// and HS256 tokens it accepts. Node built-ins only, so every package can
// import it by path.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** TOPGUN_SERVER_BINARY (CTest sets it per preset), else the dev preset's build. */
export function serverBinary() {
  const binary =
    process.env.TOPGUN_SERVER_BINARY ?? fileURLToPath(new URL('../../build/dev/native/server/topgun-server', import.meta.url));
  if (!existsSync(binary)) throw new Error(`no topgun-server at ${binary}: build the dev preset or set TOPGUN_SERVER_BINARY`);
  return binary;
}

/**
 * The reference Rust server (npm @topgunbuild/server-linux-x64) named by
 * TOPGUN_REFERENCE_SERVER, which scripts/test-wasm.sh installs outside the
 * project's dependencies; undefined when unset.
 */
export function referenceServerBinary() {
  const binary = process.env.TOPGUN_REFERENCE_SERVER;
  if (binary !== undefined && !existsSync(binary)) throw new Error(`TOPGUN_REFERENCE_SERVER names no file: ${binary}`);
  return binary;
}

/**
 * Starts `binary` (default: ours; both servers print PORT= and take --port)
 * with `args` (`--port 0` unless they name one) and `env` added to a minimal
 * environment, in `cwd`; resolves {child, port} once it prints PORT=.
 */
export function startServer({ binary = serverBinary(), args = ['--port', '0'], env = {}, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      cwd,
      env: { PATH: process.env.PATH, TOPGUN_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /^PORT=(\d+)$/m.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code} before PORT=`)));
  });
}

/** SIGTERM; resolves with the exit code. */
export function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode); // already stopped
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

/** An HS256 JWT over `claims`, signed with `secret`. */
export function signJwt(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
