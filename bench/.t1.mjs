import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { fsStorage } from "@storages/fs";

const b = randomBytes(4096);
const root = "/tmp/sf-scratch/t1";
await rm(root, { recursive: true, force: true });
const s = fsStorage({ root, overwrite: true, durability: "batch" });
for (let i = 0; i < 100; i++) await s.save(`w/${i}.bin`, b);
await s.flush();
let t = performance.now();
for (let i = 0; i < 1000; i++) await s.save(`files/${i}.bin`, b);
const saves = performance.now() - t;
t = performance.now();
await s.flush();
console.log(
  "batch saves",
  ((saves / 1000) * 1000).toFixed(0),
  "µs each; flush",
  (performance.now() - t).toFixed(0),
  "ms",
);
await mkdir(root + "/wf", { recursive: true });
t = performance.now();
for (let i = 0; i < 1000; i++) await writeFile(`${root}/wf/${i}.bin`, b);
console.log("writeFile", (performance.now() - t).toFixed(0), "µs each");
for (let r = 0; r < 3; r++) {
  t = performance.now();
  for (let i = 0; i < 1000; i++) await s.readBytes(`files/${i}.bin`);
  console.log("readBytes", (performance.now() - t).toFixed(0), "µs each");
  t = performance.now();
  for (let i = 0; i < 1000; i++)
    await s.driver.readBytes(`files/${i}.bin`, { signal: new AbortController().signal });
  console.log("driver.readBytes", (performance.now() - t).toFixed(0), "µs each");
  t = performance.now();
  for (let i = 0; i < 1000; i++) await readFile(`${root}/files/${i}.bin`);
  console.log("readFile", (performance.now() - t).toFixed(0), "µs each");
}
await rm(root, { recursive: true, force: true });
