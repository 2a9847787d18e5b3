// Starts a real `walletgate run` (gateway + bundled backend) for the tests and
// the type generator: WALLETGATE_BIN (default `walletgate` on PATH), a fresh
// temp directory as its working directory, every port 0, URLs read from what
// it prints.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LISTENING = /walletgate (gateway|admin|backend) listening on (http:\/\/\S+)/;

/**
 * @param {{config?: string, env?: Record<string, string>}} options  config: TOML text
 * @returns {Promise<{url: string, adminUrl: string, backendUrl: string, dir: string, stop: () => Promise<void>}>}
 */
export async function startWalletgate(options = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'walletgate-client-'));
  const args = [];
  if (options.config) {
    writeFileSync(join(dir, 'walletgate.toml'), options.config);
    args.push('--config', 'walletgate.toml');
  }
  args.push('run');
  const child = spawn(process.env.WALLETGATE_BIN || 'walletgate', args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      WALLETGATE_LISTEN__PORT: '0',
      WALLETGATE_ADMIN__PORT: '0',
      WALLETGATE_BACKEND__PORT: '0',
      ...options.env,
    },
  });
  const urls = {};
  let output = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`walletgate did not start:\n${output}`)), 30_000);
    const read = (chunk) => {
      output += chunk;
      for (const line of output.split('\n')) {
        const found = LISTENING.exec(line);
        if (found) urls[found[1]] = found[2];
      }
      if (urls.gateway && urls.backend) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.setEncoding('utf8').on('data', read);
    child.stderr.setEncoding('utf8').on('data', read);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`walletgate exited with ${code}:\n${output}`));
    });
    child.on('error', reject);
  });
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    url: urls.gateway,
    adminUrl: urls.admin,
    backendUrl: urls.backend,
    dir,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
