/**
 * Packages only the tests use (Fastify, playwright-core), from the test tools the servers script
 * installs (scripts/servers/tools): installed on first use here too, and a loud failure, never a
 * skip, when they cannot be.
 */
import { createRequire } from "node:module";
import { join } from "node:path";

const TOOLS = join(import.meta.dirname, "..", "..", "..", "..", "scripts", "servers", "tools.mjs");

export async function testTool(name: string): Promise<unknown> {
  const tools = (await import(TOOLS)) as { ensureTools(log?: (line: string) => void): Promise<string> };
  const dir = await tools.ensureTools((line) => console.log(line));
  return createRequire(join(dir, "package.json"))(name);
}
