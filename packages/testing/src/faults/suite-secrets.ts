/**
 * The no-secret group of `describeFaults`, and the checks it is built on (`printedForms`,
 * `expectNoSecretIn`, exported for drivers' own tests): no credential — given to the driver, or seen
 * on the wire as a signature or Authorization value — in an error that echoes the whole request, a
 * retry event, a printed storage, or a refusal of wrong credentials.
 */
import { inspect } from "node:util";
import { Storage, StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { listAllNames } from "../context.js";
import { randomBytes } from "../helpers.js";
import type { FaultProxy, RequestKind } from "./proxy.js";
import { type FaultSuiteContext, KiB, outcome } from "./suite-context.js";

/** Everything a logger or a caller could print of an error or event. */
export function printedForms(value: unknown): string[] {
  const forms = [inspect(value, { depth: 8 }), String(value)];
  try {
    forms.push(JSON.stringify(value) ?? "");
  } catch {
    // Circular values: inspect covers them.
  }
  if (value instanceof Error) forms.push(value.message, value.stack ?? "");
  return forms;
}

/** Secrets that are in the request the proxy saw: signatures in URLs and Authorization headers. */
function wireSecrets(proxy: FaultProxy): string[] {
  const found = new Set<string>();
  for (const request of proxy.log) {
    const auth = request.headers.authorization;
    if (typeof auth === "string") {
      found.add(auth);
      for (const match of auth.matchAll(/(?:Signature|Credential)=([^,\s]+)/g)) found.add(match[1]!);
      const sharedKey = /^SharedKey [^:]+:(.+)$/.exec(auth);
      if (sharedKey) found.add(sharedKey[1]!);
    }
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === "string" && /copy-source/i.test(name)) {
        for (const match of value.matchAll(/[?&](?:sig|X-Amz-Signature|X-Goog-Signature)=([^&]+)/gi))
          found.add(decodeURIComponent(match[1]!));
      }
    }
    for (const match of request.url.matchAll(/[?&](?:sig|X-Amz-Signature|X-Goog-Signature)=([^&]+)/gi))
      found.add(decodeURIComponent(match[1]!));
  }
  return [...found].filter((secret) => secret.length >= 8);
}

export function expectNoSecretIn(value: unknown, secrets: readonly string[], what: string): void {
  for (const text of printedForms(value)) {
    for (const secret of secrets) {
      if (secret.length < 6) continue;
      expect(
        text.includes(secret),
        `${what} quotes a secret (${secret.slice(0, 4)}…): ${text.slice(0, 400)}`,
      ).toBe(false);
    }
  }
}

/** No credential in any error, retry event, printed storage or bad-credentials refusal. */
export function describeNoSecretLeaks(ctx: FaultSuiteContext): void {
  const { options, tally, retries, nextPrefix, name, underFault } = ctx;
  describe("no credential in any error, log line or description", () => {
    it("a server error that quotes the whole request (URL, headers) is told without its secrets", async () => {
      const file = name("echo");
      await ctx.s.save(file, randomBytes(1 * KiB));
      const calls: Array<[RequestKind, () => Promise<unknown>]> = [
        ["upload", () => ctx.s.save(name("echo"), "x", { overwrite: true })],
        ["download", () => ctx.s.readBytes(file)],
        ["metadata", () => ctx.s.stat(file)],
        ["list", () => listAllNames(ctx.s, "echo/")],
        ["copy", () => ctx.s.copy(file, `${file}.copy`)],
        ["delete", () => ctx.s.delete(file)],
      ];
      ctx.proxy.log.length = 0;
      const before = retries.length;
      for (const [kind, call] of calls) {
        const { result, injected } = await underFault(
          { kind, times: Number.POSITIVE_INFINITY, fault: { type: "echo" } },
          call,
        );
        expect(injected, kind).toBeGreaterThanOrEqual(1);
        expect(result.ok, kind).toBe(false);
        const secrets = [...options.secrets, ...wireSecrets(ctx.proxy)];
        expectNoSecretIn((result as { error: unknown }).error, secrets, `the ${kind} error`);
        tally.failedCleanly += 1;
      }
      // What an app's onRetry hook logs: the event, with its error.
      const events = retries.slice(before);
      expect(events.length).toBeGreaterThan(0);
      const secrets = [...options.secrets, ...wireSecrets(ctx.proxy)];
      for (const event of events) expectNoSecretIn(event, secrets, "a retry event (what onRetry logs)");
    });

    it("describe(), the storage and its driver, printed, hold no secret", async () => {
      for (const value of [ctx.s.describe(), ctx.s, ctx.s.driver, ctx.s.driver.describe?.()]) {
        expectNoSecretIn(value, options.secrets, "a printed storage");
      }
    });

    const bad = options.badCredentials;
    (bad ? it : it.skip)(
      bad
        ? "wrong credentials against the real server: PermissionDenied, quoting no secret"
        : `NOT VERIFIABLE on ${options.server}: ${options.badCredentialsGap ?? "no bad-credentials driver"} — wrong credentials are refused without quoting a secret`,
      async () => {
        const { driver, secrets } = await bad!({ endpoint: ctx.proxy.url, prefix: nextPrefix() });
        const storage = new Storage(driver, { retry: false });
        try {
          ctx.proxy.log.length = 0;
          for (const call of [
            () => storage.stat("x.txt"),
            () => storage.save("x.txt", "x", { overwrite: true }),
          ]) {
            const result = await outcome(call());
            expect(result.ok).toBe(false);
            const error = (result as { error: unknown }).error;
            expect(StorageError.hasCode(error, "E_PERMISSION_DENIED"), String(error)).toBe(true);
            expectNoSecretIn(
              error,
              [...secrets, ...options.secrets, ...wireSecrets(ctx.proxy)],
              "the refusal",
            );
            tally.failedCleanly += 1;
          }
        } finally {
          await storage.close();
        }
      },
    );
  });
}
