// Uploaded files are read with the bearer token, so images and downloads
// go through blobs and object URLs rather than plain links.

import { fetchFile } from './api';
import type { FileRef } from './types';

const urls = new Map<string, Promise<string>>();

/** An object URL for a file's bytes (fetched once per page). */
export function fileUrl(id: string): Promise<string> {
  let url = urls.get(id);
  if (!url) {
    url = fetchFile(id).then((blob) => URL.createObjectURL(blob));
    url.catch(() => urls.delete(id));
    urls.set(id, url);
  }
  return url;
}

/** Saves a file under its name. */
export async function download(file: FileRef): Promise<void> {
  const url = await fileUrl(file.id);
  const a = document.createElement('a');
  a.href = url;
  a.download = file.name || 'download';
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export function forgetFiles(): void {
  for (const url of urls.values()) url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
  urls.clear();
}
