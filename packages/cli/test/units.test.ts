/**
 * The pure pieces, in process: address syntax, ranges, .env precedence, colour, exit codes. (What
 * the command does is proven by spawning it: cli.test.ts, cli.server.test.ts.)
 */
import { ConfigError, NotFoundError, PathTraversalError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { parseAddress } from "../src/address.js";
import {
  contentTypeOption,
  nonNegativeInteger,
  positiveInteger,
  wholeNumber,
} from "../src/commands/options.js";
import { EXIT, errorReport, exitCodeFor, pathProblem, UsageError } from "../src/errors.js";
import { loadEnvFiles } from "../src/ops/config.js";
import { parseRange } from "../src/ops/files.js";
import { colorWanted, Output } from "../src/output.js";

describe("parseAddress", () => {
  it("tells named storages, URLs, paths and stdio apart", () => {
    expect(parseAddress("default:avatars/me.jpg")).toEqual({
      kind: "named",
      text: "default:avatars/me.jpg",
      storage: "default",
      path: "avatars/me.jpg",
    });
    expect(parseAddress("media_2:/x")).toMatchObject({ kind: "named", storage: "media_2", path: "x" });
    expect(parseAddress("default:")).toMatchObject({ kind: "named", path: "" });
    expect(parseAddress("s3://bucket/prefix?region=eu-west-1").kind).toBe("url");
    expect(parseAddress("S3://bucket").kind).toBe("url");
    expect(parseAddress("file:///srv/media").kind).toBe("url");
    expect(parseAddress("./photo.jpg").kind).toBe("path");
    expect(parseAddress("/srv/x").kind).toBe("path");
    expect(parseAddress("C:\\data\\x").kind).toBe("path");
    expect(parseAddress("Media:x").kind).toBe("path"); // resolveAddress says what to write instead
    expect(parseAddress("-").kind).toBe("stdio");
    expect(() => parseAddress("")).toThrow(UsageError);
  });
});

describe("parseRange", () => {
  it("reads START-END, START- and -LAST, and refuses the rest with the forms it takes", () => {
    expect(parseRange("0-1023")).toEqual({ start: 0, end: 1023 });
    expect(parseRange("10-")).toEqual({ start: 10, end: undefined });
    expect(parseRange("-200")).toEqual({ last: 200 });
    for (const bad of ["5-2", "a-b", "1-2-3", "", "-"])
      expect(() => parseRange(bad), bad).toThrow(/START-END/);
  });
});

describe("loadEnvFiles", () => {
  it("follows node --env-file: the environment wins, a later file wins over an earlier one", async () => {
    const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = await mkdtemp(join(tmpdir(), "storages-envfile-"));
    try {
      await writeFile(join(dir, "a.env"), "A=from-a\nB=from-a\nC=from-a\n");
      await writeFile(join(dir, "b.env"), 'B=from-b\nD="quoted value"\n');
      const env: Record<string, string | undefined> = { A: "from-env" };
      expect(loadEnvFiles(["a.env", "b.env"], env, dir).sort()).toEqual(["B", "C", "D"]);
      expect(env).toEqual({ A: "from-env", B: "from-b", C: "from-a", D: "quoted value" });
      expect(() => loadEnvFiles(["missing.env"], {}, dir)).toThrow(/missing\.env: does not exist/);
      expect(() => loadEnvFiles(["."], {}, dir)).toThrow("--env-file .: is a folder, not a file.");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("contentTypeOption", () => {
  it("takes type/subtype with parameters, and refuses the rest with what to give", () => {
    for (const ok of [
      "image/png",
      "text/plain; charset=utf-8",
      'multipart/form-data; boundary="a b"',
      "application/vnd.api+json",
      "Text/HTML;Charset=UTF-8",
    ]) {
      expect(contentTypeOption(ok), ok).toBe(ok);
    }
    expect(contentTypeOption(" image/png ")).toBe("image/png");
    expect(contentTypeOption(undefined)).toBeUndefined();
    for (const bad of [
      "garbage",
      "image/",
      "/png",
      "image/png;",
      "image/png; x",
      "a/b c",
      'a/b; x="unterminated',
    ]) {
      expect(() => contentTypeOption(bad), bad).toThrow(/is not a MIME type: give a MIME type/);
    }
    for (const bad of ["image/png\nX-Evil: 1", "image/png\r", "image/png\u0000", "a/b\u007f"]) {
      expect(() => contentTypeOption(bad), JSON.stringify(bad)).toThrow(/contains a control character/);
    }
    expect(() => contentTypeOption("")).toThrow("--content-type is empty");
    expect(() => contentTypeOption("x")).toThrow(UsageError);
  });
});

describe("whole-number options", () => {
  it("take digits only, in range: what Number() would also read from 1e3, 0x10, ' 5 ', 1.0 or '' is refused", () => {
    expect(positiveInteger("8")).toBe(8);
    expect(nonNegativeInteger("0")).toBe(0);
    for (const value of ["0", "-1", "1e3", "0x10", " 5 ", "1.0", "", "99999999999999999999"]) {
      expect(() => positiveInteger(value), JSON.stringify(value)).toThrow("a whole number above 0");
    }
    // An empty --max-delete was 0 (delete nothing): a typo, not a limit.
    for (const value of ["", " ", "-1", "1e3"]) {
      expect(() => nonNegativeInteger(value), JSON.stringify(value)).toThrow("a whole number (0 or more)");
    }
    expect(wholeNumber("2147483647", 1, 2 ** 31 - 1)).toBe(2 ** 31 - 1);
    expect(wholeNumber("2147483648", 1, 2 ** 31 - 1)).toBeUndefined();
  });
});

describe("pathProblem", () => {
  it("words Node's errno codes the same for every option that names a file or folder", () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: node's words, open '/x'`), { code });
    expect(pathProblem(errno("ENOENT"))).toBe("does not exist");
    expect(pathProblem(errno("ENOTDIR"))).toBe("does not exist");
    expect(pathProblem(errno("EISDIR"))).toBe("is a folder, not a file");
    expect(pathProblem(errno("EACCES"))).toBe("cannot be read (permission denied)");
    expect(pathProblem(errno("EPERM"))).toBe("cannot be read (permission denied)");
    expect(pathProblem(errno("EMFILE"))).toBe("cannot be read (EMFILE)");
    expect(pathProblem(new Error("odd"))).toBe("cannot be read (odd)");
  });
});

describe("colour", () => {
  it("only on a terminal, never with NO_COLOR, TERM=dumb or --no-color; FORCE_COLOR forces it", () => {
    const tty = { isTTY: true };
    expect(colorWanted(tty, {}, undefined)).toBe(true);
    expect(colorWanted({ isTTY: false }, {}, undefined)).toBe(false);
    expect(colorWanted(tty, { NO_COLOR: "1" }, undefined)).toBe(false);
    expect(colorWanted(tty, { NO_COLOR: "" }, undefined)).toBe(true);
    expect(colorWanted(tty, { TERM: "dumb" }, undefined)).toBe(false);
    expect(colorWanted(tty, {}, false)).toBe(false);
    expect(colorWanted({ isTTY: false }, { FORCE_COLOR: "1" }, undefined)).toBe(true);
  });
});

describe("debug notes and warnings", () => {
  const written = (
    options: { json?: boolean; verbose?: boolean },
    message: string,
    kind: "debug" | "warn" = "debug",
  ) => {
    let stderr = "";
    const sink = (text: string) => {
      stderr += text;
      return true;
    };
    const output = new Output(
      { stdout: { write: () => true } as never, stderr: { write: sink } as never },
      { ...options, env: {} },
    );
    if (kind === "debug") output.debug(message);
    else output.warn(message, "w");
    return stderr;
  };

  it("only with --verbose; with --json one JSON line, like warnings and errors", () => {
    expect(written({}, "a → b")).toBe("");
    expect(written({ verbose: true }, "a → b")).toBe("debug: a → b\n");
    expect(written({ json: true, verbose: true }, "a\nb")).toBe('{"debug":{"message":"a\\nb"}}\n');
  });

  it("never carries a secret, as text or as JSON", () => {
    const message = "uploaded a.txt → https://b.s3.amazonaws.com/a.txt?X-Amz-Signature=abcdef0123";
    for (const json of [false, true]) {
      for (const kind of ["debug", "warn"] as const) {
        const text = written({ json, verbose: true }, message, kind);
        expect(text).toContain("[redacted]");
        expect(text).not.toContain("abcdef0123");
      }
    }
  });
});

describe("exit codes and reports", () => {
  it("usage and configuration errors are 2, failures 1, interruptions 130", () => {
    expect(exitCodeFor(new UsageError("x"), false)).toBe(EXIT.usage);
    expect(exitCodeFor(new ConfigError("x"), false)).toBe(EXIT.usage);
    expect(exitCodeFor(new PathTraversalError("x"), false)).toBe(EXIT.usage);
    expect(exitCodeFor(new NotFoundError("x"), false)).toBe(EXIT.failed);
    expect(exitCodeFor(new Error("x"), false)).toBe(EXIT.failed);
    expect(exitCodeFor(new NotFoundError("x"), true)).toBe(EXIT.interrupted);
  });

  it("never carries a secret, and a stack only when verbose", () => {
    const error = new Error("GET https://b.s3.amazonaws.com/k?X-Amz-Signature=abcdef0123 failed");
    const report = errorReport(error);
    expect(report.code).toBe("E_INTERNAL");
    expect(report.message).not.toContain("abcdef0123");
    expect(report.stack).toBeUndefined();
    const verbose = errorReport(error, true);
    expect(verbose.stack).toContain("at ");
    expect(verbose.stack).not.toContain("abcdef0123");
  });
});
