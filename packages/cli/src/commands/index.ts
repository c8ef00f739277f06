/**
 * Every command, in the order `storages --help` lists them. A new command is a module in this
 * folder (see command.ts) and one line here.
 */
import type { CommandDefinition } from "../command.js";
import { cat } from "./cat.js";
import { collectstatic } from "./collectstatic.js";
import { config } from "./config.js";
import { get } from "./get.js";
import { ls } from "./ls.js";
import { put } from "./put.js";
import { rm } from "./rm.js";
import { signUploadCommand } from "./sign-upload.js";
import { stat } from "./stat.js";
import { url } from "./url.js";

export const COMMANDS: readonly CommandDefinition[] = [
  ls,
  stat,
  cat,
  put,
  get,
  rm,
  url,
  signUploadCommand,
  collectstatic,
  config,
];
