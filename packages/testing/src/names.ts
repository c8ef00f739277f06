/**
 * Name corpora shared by the conformance suite and core's unit tests.
 *
 * `hostileNames` must be refused by every Storage method that takes a name (InvalidPathError or
 * its subclass PathTraversalError) before any driver sees them. `awkwardNames` are legal and must
 * round-trip byte for byte through every backend, its listings and its URLs.
 */

/** Every ASCII C0 control character, DEL, and a few C1 controls. */
const CONTROL_CHARACTERS: readonly string[] = [
  ...Array.from({ length: 0x20 }, (_, code) => String.fromCharCode(code)),
  "\u007f",
  "\u0080",
  "\u0085",
  "\u009b",
  "\u009f",
];

export const hostileNames: readonly string[] = [
  // --- Empty names and dot-only segments: they resolve to the storage root or its parent, so a
  // write would hit a directory, or land next to the root instead of inside it.
  "",
  ".",
  "..",
  "...",
  "./",
  "../",
  "./a.txt",
  "a/./b.txt",
  "a/.",
  "a/..",
  "a/b/../..",
  "./..",
  ".../a.txt",

  // --- Parent traversal: escapes the storage root (fs) or the driver's key prefix (cloud), to
  // read or overwrite another tenant's files, the app's code, or /etc.
  "../a.txt",
  "../../a.txt",
  "../../../../../../../../etc/passwd",
  "a/../../b.txt",
  "a/b/../../../c.txt",
  "media/../static/app.js",
  "media/../../static/app.js",
  "../sibling-storage/pwned.txt",
  "..//a.txt",
  "a/../b.txt",
  "uploads/../../../../root/.ssh/authorized_keys",

  // --- Absolute paths: path.join/resolve on a filesystem drops the root for them; on a cloud
  // they create keys outside the prefix ("//a" is a different object from "a").
  "/a.txt",
  "/etc/passwd",
  "//a.txt",
  "///a.txt",
  "/../a.txt",
  "//server/share/a.txt",
  "C:/Windows/win.ini",
  "c:win.ini",
  "D:relative.txt",

  // --- Backslashes: a separator on Windows and for some proxies and unzip tools, so "a\..\b"
  // is a traversal there even though it is one segment here.
  "a\\b.txt",
  "\\a.txt",
  "\\\\server\\share\\a.txt",
  "..\\a.txt",
  "..\\..\\etc\\passwd",
  "a\\..\\..\\b.txt",
  "a/..\\..\\b.txt",
  "C:\\Windows\\win.ini",
  "a\\",
  "\\",

  // --- Empty segments (leading, trailing or doubled "/"): "a//b" and "a/b" are one file on
  // disk but two objects on S3, so data would silently diverge between backends; "a/" is a
  // directory marker, not a file.
  "a//b.txt",
  "a/",
  "a/b/",
  "a///b.txt",

  // --- Control characters anywhere: NUL truncates C strings ("a.txt\0.jpg" is "a.txt" to
  // the kernel), CR/LF split HTTP headers and log lines, ESC drives terminals, C1 controls
  // (U+0080–U+009F) act as controls in some decoders.
  ...CONTROL_CHARACTERS.map((c) => `a${c}b.txt`),
  "\u0000",
  "a.txt\u0000.jpg",
  "\n",
  "a.txt\r\nX-Injected: 1",
  "dir\n/a.txt",
  "\u001b[31mred.txt",

  // --- Percent-encoded dots, slashes, backslashes and NUL (also double-encoded and overlong
  // UTF-8): a proxy or server that decodes once more than we do sees "../" or "/".
  "%2e%2e/a.txt",
  "%2E%2E/a.txt",
  "%2e./a.txt",
  ".%2e/a.txt",
  "a/%2e%2e/%2e%2e/b.txt",
  "..%2fa.txt",
  "%2e%2e%2fetc%2fpasswd",
  "a%2fb.txt",
  "a%2Fb.txt",
  "..%5c..%5cwin.ini",
  "a%00.txt",
  "%252e%252e/a.txt",
  "%25252e%25252e/a.txt",
  "%c0%ae%c0%ae/a.txt",
  "%e0%80%ae%e0%80%ae/a.txt",

  // --- Look-alikes that Unicode compatibility normalisation (NFKC) folds into "." "/" or "\":
  // systems that normalise names (some filesystems, WAFs, browsers) would see a traversal.
  "\uff0e\uff0e/a.txt",
  "\uff0e/a.txt",
  "a\uff0fb.txt",
  "\u2025/a.txt",
  "a\uff3cb.txt",
  "\ufe52\ufe52/a.txt",

  // --- Bidirectional overrides and line separators: they disguise a name when displayed
  // ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf") or break line-based logs.
  "invoice\u202efdp.exe",
  "a\u202ab.txt",
  "a\u202db.txt",
  "a\u2066b.txt",
  "a\u2069b.txt",
  "a\u200eb.txt",
  "a\u200fb.txt",
  "a\u2028b.txt",
  "a\u2029b.txt",

  // --- Unpaired UTF-16 surrogates: not encodable as UTF-8, so the stored key would differ
  // from the name (replacement characters) and two names would collide.
  "a\ud800b.txt",
  "a\udfffb.txt",

  // --- White space at the edges of a segment: Windows and many tools strip it, so
  // "a.txt " and "a.txt" would become the same file.
  " a.txt",
  "a.txt ",
  "dir /a.txt",
  " dir/a.txt",
  "a.txt\u00a0",
  "\u3000a.txt",

  // --- Over-long: past the 1,024-byte key limit of S3/GCS, or a segment past the 255-byte
  // NAME_MAX of filesystems. Counted in UTF-8 bytes, not UTF-16 units.
  "a".repeat(1025),
  `${"d/".repeat(520)}a.txt`,
  "a".repeat(256),
  `dir/${"b".repeat(256)}.txt`,
  "é".repeat(128),
  "😀".repeat(64),
  `${"ab/".repeat(300)}${"x".repeat(200)}`,
];

/**
 * Legal names that break careless code: URL encoding ("+" as space, "#" and "?" ending the path,
 * "%" double decoding), Unicode forms (NFC and NFD are two different names and must stay two),
 * quotes in headers, long names, dots and dashes where parsers guess.
 */
export const awkwardNames: readonly string[] = [
  "plain.txt",
  "unicode/café-nfc.txt",
  "unicode/cafe\u0301-nfd.txt",
  "unicode/日本語のファイル名.txt",
  "unicode/Ünïcödé Ñämé.md",
  "unicode/שלום עולם.txt",
  "unicode/𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral.txt",
  "emoji/😀 smile.png",
  "emoji/👩‍👩‍👧 family.txt",
  "spaces/a b c.txt",
  "a b/c d.txt",
  "plus/a+b.txt",
  "plus/c++ notes.txt",
  "percent/100%.txt",
  "percent/a%20b.txt",
  "percent/%41%42.txt",
  "hash/#1.txt",
  "hash/a#b.txt",
  "query/what?.txt",
  "query/a?b=c&d=e.txt",
  "amp/this & that.txt",
  "equals/a=b.txt",
  "quotes/it's.txt",
  'quotes/say "hi".txt',
  "quotes/back`tick.txt",
  "brackets/(1) [2] {3}.txt",
  "symbols/~!@$^*,;'.txt",
  "dash/-leading-dash.txt",
  "dash/--double",
  "dots/archive.tar.gz",
  "dots/a..b.txt",
  "dots/.hidden",
  "dots/trailing.dot.",
  "noext/README",
  "case/MiXeD.TXT",
  "deep/1/2/3/4/5/6/7/8/9/10/11/12/file.txt",
  `long/${"n".repeat(250)}.txt`,
  `long-path/${Array.from({ length: 4 }, (_, i) => `${i}${"s".repeat(190)}`).join("/")}/end.txt`,
];
