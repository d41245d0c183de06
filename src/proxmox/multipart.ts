/**
 * A multipart/form-data body for Proxmox's upload endpoint, streamed from the file with a known
 * Content-Length (pve-http-server wants one).
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';

export interface MultipartFile {
  /** Form field name of the file part (`filename` for Proxmox uploads). */
  field: string;
  /** Local path to read. */
  path: string;
  /** Name given in the part's Content-Disposition (the stored file name). */
  filename: string;
  size: number;
}

export interface MultipartBody {
  contentType: string;
  length: number;
  /** Writes the whole body to `out` (without ending it), respecting back-pressure. */
  write(out: Writable): Promise<void>;
}

export function multipartBody(fields: Record<string, string>, file: MultipartFile): MultipartBody {
  if (/["\r\n\\]/.test(file.filename)) throw new Error(`file name ${JSON.stringify(file.filename)} cannot be sent in a multipart header`);
  const boundary = `----proxrun${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of Object.entries(fields)) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const headBuf = Buffer.from(head);
  const tailBuf = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: headBuf.length + file.size + tailBuf.length,
    async write(out: Writable): Promise<void> {
      const put = (chunk: Buffer): Promise<void> =>
        new Promise((resolve) => {
          if (out.write(chunk)) resolve();
          else out.once('drain', resolve);
        });
      await put(headBuf);
      let sent = 0;
      for await (const chunk of fs.createReadStream(file.path)) {
        const buf = chunk as Buffer;
        sent += buf.length;
        await put(buf);
      }
      if (sent !== file.size) throw new Error(`${file.path} changed size while uploading`);
      await put(tailBuf);
    },
  };
}
