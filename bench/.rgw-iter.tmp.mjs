// One fs -> RGW comparison round set, ours vs rclone, + an optional CPU profile of ours.
import { spawnSync } from "node:child_process";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";

const endpoint = process.env.STORAGES_TEST_S3_ENDPOINT,
  region = process.env.STORAGES_TEST_S3_REGION ?? "us-east-1";
const credentials = {
  accessKeyId: process.env.STORAGES_TEST_S3_ACCESS_KEY_ID,
  secretAccessKey: process.env.STORAGES_TEST_S3_SECRET_ACCESS_KEY,
};
const s3 = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
let n = 0;
const bucket = async (t) => {
  const b = `it-${t}-${process.pid}-${n++}`;
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
};
const SRC = process.argv[2] ?? "/tmp/mig-bench/assets";
const rounds = Number(process.argv[3] ?? 2);
const extra = (process.argv[4] ?? "").split(" ").filter(Boolean);
const env = (b) => ({
  ...process.env,
  STORAGES_DST: `s3://${b}?${new URLSearchParams({ endpoint, region })}`,
  STORAGES_DST_ACCESS_KEY_ID: credentials.accessKeyId,
  STORAGES_DST_SECRET_ACCESS_KEY: credentials.secretAccessKey,
});
const renv = {
  ...process.env,
  RCLONE_CONFIG: "/dev/null",
  RCLONE_CONFIG_RGW_TYPE: "s3",
  RCLONE_CONFIG_RGW_PROVIDER: "Ceph",
  RCLONE_CONFIG_RGW_ENDPOINT: endpoint,
  RCLONE_CONFIG_RGW_REGION: region,
  RCLONE_CONFIG_RGW_ACCESS_KEY_ID: credentials.accessKeyId,
  RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  RCLONE_CONFIG_RGW_FORCE_PATH_STYLE: "true",
};
delete renv.AWS_CA_BUNDLE;
const time = (cmd, args, e) => {
  const r = spawnSync("/usr/bin/time", ["-f", "%e s %U u %S s %M KB", cmd, ...args], {
    env: e,
    encoding: "utf8",
  });
  if (r.status) console.log(r.stderr.slice(-1500));
  return r.stderr.trim().split("\n").pop();
};
await spawnSync("rclone", ["copy", "/work/wt-migrate5/bench/README.md", `rgw:${await bucket("warm")}`], {
  env: renv,
});
for (let i = 0; i < rounds; i++) {
  console.log(
    "ours  ",
    time(
      process.execPath,
      [
        ...extra,
        "/work/wt-migrate5/packages/cli/bin/storages.js",
        "copy",
        "--concurrency",
        "8",
        `${SRC}/`,
        "dst:",
      ],
      env(await bucket("o")),
    ),
  );
  console.log(
    "rclone",
    time(
      "rclone",
      ["copy", SRC, `rgw:${await bucket("r")}`, "--transfers", "8", "--checkers", "8", "-q"],
      renv,
    ),
  );
}
s3.destroy();
