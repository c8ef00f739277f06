// The upload page: the same code whatever backend the app runs on. Form uploads go through the
// app (handleUpload); direct uploads go from the browser to the storage with a descriptor the app
// issues, then the app confirms them. Both report progress and can be cancelled.
import { directUpload, formUpload } from "/browser/upload.js";

const $ = (selector) => document.querySelector(selector);

function track(statusEl, progressEl) {
  return {
    progress({ fraction }) {
      progressEl.value = fraction;
    },
    say(text, isError = false) {
      statusEl.textContent = text;
      statusEl.classList.toggle("error", isError);
    },
  };
}

let current;
$("#cancel").addEventListener("click", () => current?.abort());

$("#form-upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const target = event.submitter?.getAttribute("formaction") ?? form.getAttribute("action");
  const ui = track($("#form-status"), $("#form-progress"));
  current = new AbortController();
  ui.say("uploading…");
  try {
    const result = await formUpload(target, new FormData(form), {
      onProgress: ui.progress,
      signal: current.signal,
    });
    ui.say(`stored ${result.files.map((f) => f.name).join(", ")}`);
    await refreshGallery();
  } catch (error) {
    ui.say(error.name === "AbortError" ? "cancelled" : `refused: ${error.code} — ${error.message}`, true);
  }
});

$("#direct-upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("#direct-file").files[0];
  if (!file) return;
  const ui = track($("#direct-status"), $("#direct-progress"));
  current = new AbortController();
  ui.say("uploading straight to the storage…");
  try {
    const stored = await directUpload(file, {
      issueUrl: "/api/direct-uploads",
      confirmUrl: "/api/direct-uploads/confirm",
      onProgress: ui.progress,
      signal: current.signal,
    });
    ui.say(`stored ${stored.name} (${stored.size} bytes, ${stored.contentType})`);
    await refreshGallery();
  } catch (error) {
    ui.say(error.name === "AbortError" ? "cancelled" : `refused: ${error.code} — ${error.message}`, true);
  }
});

async function refreshGallery() {
  const response = await fetch("/api/files");
  const { public: publicFiles, private: privateFiles } = await response.json();
  for (const [id, files] of [
    ["#public-files", publicFiles],
    ["#private-files", privateFiles],
  ]) {
    const list = $(id);
    list.replaceChildren(
      ...files.map((file) => {
        const item = document.createElement("li");
        item.dataset.name = file.name;
        const link = document.createElement("a");
        link.href = file.url;
        link.textContent = file.name;
        if (file.contentType?.startsWith("image/") && file.contentType !== "image/svg+xml") {
          const img = document.createElement("img");
          img.src = file.url;
          img.alt = file.name;
          item.append(img);
        }
        item.append(link, document.createTextNode(` ${file.size} bytes`));
        return item;
      }),
    );
  }
  document.body.dataset.galleryLoaded = String(Date.now());
}

refreshGallery();
