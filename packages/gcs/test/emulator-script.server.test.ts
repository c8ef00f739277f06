/**
 * scripts/servers/gcs-emulator.mjs follows the test-server protocol: start answers with the env,
 * a second server on a taken port is refused, stop leaves no process and can run twice.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, expect, it } from "vitest";

interface ServerModule {
  id: string;
  label: string;
  install(): Promise<void>;
  start(options: { workDir: string; port?: number }): Promise<{ env: Record<string, string> }>;
  stop(options: { workDir: string }): Promise<void>;
}

const script = join(import.meta.dirname, "..", "..", "..", "scripts", "servers", "gcs-emulator.mjs");
const server = (await import(pathToFileURL(script).href)) as ServerModule;
const workDir = mkdtempSync(join(tmpdir(), "gcs-emulator-test-"));
const otherDir = mkdtempSync(join(tmpdir(), "gcs-emulator-test-"));
const port = 20_000 + Math.floor(Math.random() * 20_000);

afterAll(async () => {
  await server.stop({ workDir });
  await server.stop({ workDir: otherDir });
  rmSync(workDir, { recursive: true, force: true });
  rmSync(otherDir, { recursive: true, force: true });
});

it("starts, answers the JSON API, refuses a second server on its port, and stops without leftovers", async () => {
  expect(server.id).toBe("gcs-emulator");
  expect(server.label).toMatch(/firebase-tools 15\.34\.2/);
  await server.install();
  const { env } = await server.start({ workDir, port });
  expect(env).toEqual({
    STORAGES_TEST_GCS_ENDPOINT: `http://127.0.0.1:${port}`,
    STORAGES_TEST_GCS_PROJECT: "demo-storages",
    STORAGES_TEST_GCS_SERVER: server.label,
  });
  const pid = Number(readFileSync(join(workDir, "gcs-emulator.pid"), "utf8"));
  const res = await fetch(`${env.STORAGES_TEST_GCS_ENDPOINT}/b`);
  expect(res.status).toBe(200);
  await res.arrayBuffer();

  await expect(server.start({ workDir: otherDir, port })).rejects.toThrow(/already answers/);

  await server.stop({ workDir });
  expect(() => process.kill(pid, 0)).toThrow();
  expect(existsSync(join(workDir, "gcs-emulator.pid"))).toBe(false);
  await server.stop({ workDir }); // idempotent
}, 60_000);
