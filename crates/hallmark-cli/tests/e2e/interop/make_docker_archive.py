#!/usr/bin/env python3
"""Writes `docker save`-style tarballs for the tests, independently of hallmark.

    legacy OUT.tar SEED     manifest.json form (layer dirs, a symlinked duplicate layer)
    oci OUT.tar SEED        OCI-layout-in-tar form written by Docker >= 25 (plus manifest.json)
"""

import hashlib
import io
import json
import random
import sys
import tarfile


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def layer_tar(seed, n):
    rnd = random.Random("%s-%d" % (seed, n))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        add(t, "file-%d.bin" % n, bytes(rnd.getrandbits(8) for _ in range(3000 + n)))
    return buf.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def legacy(out, seed):
    layers = [layer_tar(seed, 0), layer_tar(seed, 1)]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(l) for l in layers + [layers[0]]]}}).encode()
    with tarfile.open(out, "w") as t:
        add(t, sha(config) + ".json", config)
        names = []
        for l in layers:
            d = sha(l)
            add(t, d + "/layer.tar", l)
            add(t, d + "/VERSION", b"1.0")
            names.append(d + "/layer.tar")
        # docker save links a repeated layer to the first copy.
        link = tarfile.TarInfo("dup/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../" + names[0]
        t.addfile(link)
        names.append("dup/layer.tar")
        add(t, "manifest.json", json.dumps([{"Config": sha(config) + ".json", "RepoTags": ["app:v1"], "Layers": names}]).encode())


def oci(out, seed):
    layers = [layer_tar(seed, 0), layer_tar(seed, 1)]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(l) for l in layers]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + sha(l), "size": len(l)} for l in layers],
    }, indent=2).encode()
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                       "digest": "sha256:" + sha(manifest), "size": len(manifest),
                                       "annotations": {"io.containerd.image.name": "docker.io/library/app:v1",
                                                       "org.opencontainers.image.ref.name": "v1"}}]}).encode()
    with tarfile.open(out, "w") as t:
        add(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add(t, "index.json", index)
        for b in [config, manifest] + layers:
            add(t, "blobs/sha256/" + sha(b), b)
        add(t, "manifest.json", json.dumps([{"Config": "blobs/sha256/" + sha(config), "RepoTags": ["app:v1"],
                                              "Layers": ["blobs/sha256/" + sha(l) for l in layers]}]).encode())
    print("sha256:" + sha(manifest))


if __name__ == "__main__":
    {"legacy": legacy, "oci": oci}[sys.argv[1]](sys.argv[2], sys.argv[3])
