/**
 * Every command, in the order `storages --help` lists them. A new command is a module in this
 * folder (see command.ts) and one line here.
 */
import type { CommandDefinition } from "../command.js";
import { cat } from "./cat.js";
import { check } from "./check.js";
import { collectstatic } from "./collectstatic.js";
import { config } from "./config.js";
import { copy } from "./copy.js";
import { get } from "./get.js";
import { ls } from "./ls.js";
import { put } from "./put.js";
import { rm } from "./rm.js";
import { signUploadCommand } from "./sign-upload.js";
import { stat } from "./stat.js";
import { sync } from "./sync.js";
import { url } from "./url.js";
import { verify } from "./verify.js";
import { caddy, nginx } from "./web-server.js";

export const COMMANDS: readonly CommandDefinition[] = [
  ls,
  stat,
  cat,
  put,
  get,
  rm,
  copy,
  sync,
  verify,
  url,
  signUploadCommand,
  collectstatic,
  config,
  check,
  nginx,
  caddy,
];
