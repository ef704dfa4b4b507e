/**
 * A throwaway PKI made with openssl at test time (nothing pre-baked that
 * expires): a CA, a server certificate for localhost / 127.0.0.1 signed by
 * it, client certificates signed by it, and a self-signed "stranger" client
 * certificate no CA vouches for. Every file is PEM in one temp directory.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Makes a client certificate (and key) with this CN, signed by the CA unless `selfSigned`. */
  client(cn: string, options?: { selfSigned?: boolean }): { cert: string; key: string };
  /** A new CA and server certificate in other files (for reload tests). */
  rotate(): { ca: string; serverCert: string; serverKey: string };
  read(path: string): Buffer;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function key(dir: string, name: string): string {
  const path = join(dir, name);
  openssl(
    ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", path],
    dir,
  );
  return path;
}

function makeCa(dir: string, prefix: string): { ca: string; caKey: string } {
  const caKey = key(dir, `${prefix}ca.key`);
  const ca = join(dir, `${prefix}ca.crt`);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      caKey,
      "-out",
      ca,
      "-days",
      "2",
      "-subj",
      `/CN=Starling test CA ${prefix}`,
    ],
    dir,
  );
  return { ca, caKey };
}

function sign(
  dir: string,
  ca: { ca: string; caKey: string },
  name: string,
  subject: string,
  ext: string,
) {
  const k = key(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(["req", "-new", "-key", k, "-out", csr, "-subj", subject], dir);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.ca,
      "-CAkey",
      ca.caKey,
      "-CAcreateserial",
      "-out",
      cert,
      "-days",
      "2",
      "-extfile",
      extFile,
    ],
    dir,
  );
  return { cert, key: k };
}

const SERVER_EXT = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
const CLIENT_EXT = "extendedKeyUsage=clientAuth\n";

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), "starling-pki-"));
  const ca = makeCa(dir, "");
  const server = sign(dir, ca, "server", "/CN=localhost", SERVER_EXT);
  let rotations = 0;
  return {
    dir,
    ca: ca.ca,
    serverCert: server.cert,
    serverKey: server.key,
    client(cn, options = {}) {
      const name = `client-${cn.replace(/[^A-Za-z0-9]/g, "_")}${options.selfSigned ? "-self" : ""}`;
      if (!options.selfSigned) return sign(dir, ca, name, `/CN=${cn}`, CLIENT_EXT);
      const k = key(dir, `${name}.key`);
      const cert = join(dir, `${name}.crt`);
      openssl(
        ["req", "-x509", "-new", "-key", k, "-out", cert, "-days", "2", "-subj", `/CN=${cn}`],
        dir,
      );
      return { cert, key: k };
    },
    rotate() {
      rotations++;
      const next = makeCa(dir, `r${rotations}-`);
      const s = sign(dir, next, `server-r${rotations}`, "/CN=localhost", SERVER_EXT);
      return { ca: next.ca, serverCert: s.cert, serverKey: s.key };
    },
    read: (path) => readFileSync(path),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
