"""A small Python client of the LayerGate gRPC API (service layergate.v1.Gateway), for tests and as an example.

It shares no code with the gateway: its stubs are generated at start by grpcio-tools from the repository's
proto/ (layergate/v1/record.proto and gateway.proto, `-I proto`), cached by the protos' SHA-256 in
.services/grpc-stubs/<hash>/ (or $LAYERGATE_GRPC_STUBS), and it calls the gateway with grpcio.

    PYREQUIREMENTS=requirements-grpc.txt PYVENV=pyvenv-grpc test/tools/python.sh layergate_grpc_client.py COMMAND ...
    (test/tools/grpc-python.ts does this)

Commands (every one prints JSON lines on stdout):
  stubs                                   generate the stubs only (no server): {"stubs": DIR, "modules": [...]}
  status  CONN                            GetStatus: the status (MessageToDict, proto field names)
  stream  CONN [--after-seq N] [--signal GLOB]... [--kind K]... [--build B] [--count N]
                                          StreamRecords: one line per record
                                          {"seq", "source", "signal", "kind", "class", "content_type", "build",
                                           "layer", "source_time_ns", "receive_time_ns", "attributes",
                                           "body" (base64) | "blob" {"sha256", "size"}, "head_seq"}
                                          and per gap {"gap": {"from_seq", "to_seq", "reason"}, "head_seq"};
                                          stops after N records (--count), else runs until the stream ends
  store   CONN --file F --data-type T --content-type CT --access-pattern P --signal S [--build B]
          [--layer L] [--class C] [--meta k=v]... [--stream]
                                          Store (files up to 3 MiB) or StoreStream (larger, or --stream: a
                                          header with size and sha256, then 1 MiB chunks): the StoreResult
CONN: --target HOST:PORT --ca CERT.pem --token T [--server-name NAME] [--timeout S]
  --ca is the gateway's API certificate (<dataDir>/api/tls/cert.pem; `layergate api info` shows its
  fingerprint); --server-name overrides the name checked against it (grpc.ssl_target_name_override), for a
  target that is not among its names (host name, localhost, 127.0.0.1, ::1). --plaintext instead of --ca
  for a gateway whose API is plain (loopback only). --token defaults to $LAYERGATE_TOKEN.

An RPC that fails prints {"error": "<status code name>", "message": "<details>"} and exits 3; a usage
problem exits 2.
"""

import argparse
import base64
import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
from typing import NoReturn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROTOS = ("layergate/v1/record.proto", "layergate/v1/gateway.proto")
STORE_MAX_UNARY = 3 * 1024 * 1024
CHUNK = 1024 * 1024


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(code: str, message: str, exit_code: int) -> NoReturn:
    emit({"error": code, "message": message})
    sys.exit(exit_code)


# ---------------------------------------------------------------------------------------------
# Stubs


def stubs_hash(proto_dir: str) -> str:
    """SHA-256 of every .proto under proto/layergate (names and bytes) and of grpcio-tools' version."""
    from importlib.metadata import version

    h = hashlib.sha256()
    h.update(version("grpcio-tools").encode() + b"\0")
    base = os.path.join(proto_dir, "layergate")
    for dirpath, _dirs, files in sorted(os.walk(base)):
        for name in sorted(files):
            if not name.endswith(".proto"):
                continue
            full = os.path.join(dirpath, name)
            h.update(os.path.relpath(full, proto_dir).encode() + b"\0")
            with open(full, "rb") as f:
                h.update(f.read())
            h.update(b"\0")
    return h.hexdigest()[:16]


def stubs_root() -> str:
    configured = os.environ.get("LAYERGATE_GRPC_STUBS")
    if configured:
        return configured
    services = os.path.join(ROOT, ".services")
    try:
        os.makedirs(services, exist_ok=True)
        if os.access(services, os.W_OK):
            return os.path.join(services, "grpc-stubs")
    except OSError:
        pass
    return os.path.join(tempfile.gettempdir(), "layergate-grpc-stubs")


def generate_stubs(proto_dir: str) -> str:
    """Generate the Python stubs (once per proto hash) and put their folder on sys.path."""
    from grpc_tools import protoc

    for rel in PROTOS:
        if not os.path.isfile(os.path.join(proto_dir, rel)):
            fail("USAGE", f"{os.path.join(proto_dir, rel)}: not found (--proto names the folder holding layergate/v1/)", 2)
    root = stubs_root()
    out = os.path.join(root, stubs_hash(proto_dir))
    if not os.path.isdir(out):
        os.makedirs(root, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".gen-", dir=root)
        try:
            includes = [proto_dir]
            try:
                from importlib.resources import files

                includes.append(str(files("grpc_tools") / "_proto"))  # google/protobuf/*.proto
            except Exception:  # noqa: BLE001
                pass
            args = ["grpc_tools.protoc"]
            for inc in includes:
                args += ["-I", inc]
            args += [f"--python_out={tmp}", f"--grpc_python_out={tmp}", *PROTOS]
            if protoc.main(args) != 0:
                fail("PROTOC", f"grpc_tools.protoc failed for {', '.join(PROTOS)} in {proto_dir}", 2)
            try:
                os.rename(tmp, out)  # another process may have made it meanwhile: keep theirs
            except OSError:
                if not os.path.isdir(out):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if out not in sys.path:
        sys.path.insert(0, out)
    return out


class Api:
    """The generated modules."""

    def __init__(self, proto_dir: str):
        self.stubs = generate_stubs(proto_dir)
        self.record_pb2 = importlib.import_module("layergate.v1.record_pb2")
        self.pb2 = importlib.import_module("layergate.v1.gateway_pb2")
        self.pb2_grpc = importlib.import_module("layergate.v1.gateway_pb2_grpc")


# ---------------------------------------------------------------------------------------------
# Calls


def connect(api: Api, args: argparse.Namespace):
    import grpc

    if not args.token:
        fail("USAGE", "--token (or $LAYERGATE_TOKEN) is required: an API token of the control plane", 2)
    if args.plaintext:
        channel = grpc.insecure_channel(args.target)
    else:
        if not args.ca:
            fail("USAGE", "--ca CERT.pem (the gateway's API certificate) is required, or --plaintext", 2)
        try:
            with open(args.ca, "rb") as f:
                ca = f.read()
        except OSError as e:
            fail("USAGE", f"--ca {args.ca}: {e.strerror}", 2)
        options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
        channel = grpc.secure_channel(args.target, grpc.ssl_channel_credentials(root_certificates=ca), options=options)
    metadata = [("authorization", "Bearer " + args.token)]
    return channel, api.pb2_grpc.GatewayStub(channel), metadata


def to_dict(message) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def cmd_status(api: Api, args: argparse.Namespace) -> None:
    channel, stub, metadata = connect(api, args)
    with channel:
        resp = stub.GetStatus(api.pb2.GetStatusRequest(), metadata=metadata, timeout=args.timeout)
        emit(to_dict(resp.status))


def record_line(api: Api, r, head_seq: int) -> dict:
    line = {
        "seq": r.seq,
        "source": r.source,
        "signal": r.signal,
        "kind": api.record_pb2.RecordKind.Name(r.kind),
        "class": api.record_pb2.SensitivityClass.Name(getattr(r, "class")),
        "content_type": r.content_type,
        "build": r.build,
        "layer": r.layer if r.HasField("layer") else None,
        "source_time_ns": r.source_time_ns,
        "receive_time_ns": r.receive_time_ns,
        "attributes": dict(r.attributes),
        "head_seq": head_seq,
    }
    if r.WhichOneof("payload") == "blob":
        line["blob"] = {"sha256": r.blob.sha256, "size": r.blob.size}
    else:
        line["body"] = base64.b64encode(r.body).decode("ascii")
    return line


def cmd_stream(api: Api, args: argparse.Namespace) -> None:
    channel, stub, metadata = connect(api, args)
    rk = api.record_pb2.RecordKind
    kinds = [rk.Value("RECORD_KIND_" + k.upper()) for k in args.kind]
    req = api.pb2.StreamRecordsRequest(filter=api.pb2.RecordFilter(signals=args.signal, kinds=kinds, build=args.build or ""))
    if args.after_seq is not None:
        req.after_seq = args.after_seq
    if args.max_batch:
        req.max_batch = args.max_batch
    with channel:
        call = stub.StreamRecords(req, metadata=metadata, timeout=args.timeout)
        seen = 0
        try:
            if args.count is not None and args.count <= 0:
                return
            for msg in call:
                if msg.WhichOneof("item") == "gap":
                    emit({"gap": {"from_seq": msg.gap.from_seq, "to_seq": msg.gap.to_seq, "reason": msg.gap.reason}, "head_seq": msg.head_seq})
                    continue
                for r in msg.records.records:
                    emit(record_line(api, r, msg.head_seq))
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        return
        finally:
            call.cancel()


def file_sha256(path: str) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def cmd_store(api: Api, args: argparse.Namespace) -> None:
    pb2 = api.pb2
    metadata_kv = {}
    for kv in args.meta:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            fail("USAGE", f"--meta {kv}: expected key=value", 2)
        metadata_kv[key] = value
    try:
        size, sha = file_sha256(args.file)
    except OSError as e:
        fail("USAGE", f"--file {args.file}: {e.strerror}", 2)
    header = pb2.StoreHeader(
        data_type=pb2.DataType.Value("DATA_TYPE_" + args.data_type.upper()),
        content_type=args.content_type,
        access_pattern=pb2.AccessPattern.Value("ACCESS_PATTERN_" + args.access_pattern.upper()),
        signal=args.signal,
        build=args.build or "",
        metadata=metadata_kv,
        source_time_ns=args.source_time_ns,
    )
    if args.layer is not None:
        header.layer = args.layer
    if args.sensitivity:
        setattr(header, "class", api.record_pb2.SensitivityClass.Value("SENSITIVITY_CLASS_" + args.sensitivity.upper()))
    channel, stub, metadata = connect(api, args)
    with channel:
        if size <= STORE_MAX_UNARY and not args.stream:
            with open(args.file, "rb") as f:
                data = f.read()
            resp = stub.Store(pb2.StoreRequest(header=header, data=data), metadata=metadata, timeout=args.timeout)
        else:
            header.size = size
            header.sha256 = sha

            def parts():
                yield pb2.StoreStreamRequest(header=header)
                with open(args.file, "rb") as f:
                    while chunk := f.read(CHUNK):
                        yield pb2.StoreStreamRequest(data=chunk)

            resp = stub.StoreStream(parts(), metadata=metadata, timeout=args.timeout)
        emit(to_dict(resp.result))


def cmd_stubs(api: Api, _args: argparse.Namespace) -> None:
    emit({"stubs": api.stubs, "modules": [api.record_pb2.__name__, api.pb2.__name__, api.pb2_grpc.__name__]})


# ---------------------------------------------------------------------------------------------
# Command line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="layergate_grpc_client.py",
        description="A small client of the LayerGate gRPC API (layergate.v1.Gateway); prints JSON lines.",
    )
    p.add_argument("--proto", default=os.path.join(ROOT, "proto"), help="the folder holding layergate/v1/*.proto (default: the repository's proto/)")
    sub = p.add_subparsers(dest="command", required=True)

    def conn(sp: argparse.ArgumentParser, timeout: float | None) -> None:
        sp.add_argument("--target", required=True, help="HOST:PORT of the gateway's gRPC API (default port 8444)")
        sp.add_argument("--ca", help="the gateway's API certificate (PEM) to trust")
        sp.add_argument("--token", default=os.environ.get("LAYERGATE_TOKEN"), help="API token (default: $LAYERGATE_TOKEN)")
        sp.add_argument("--server-name", help="the name to check the certificate against (grpc.ssl_target_name_override)")
        sp.add_argument("--plaintext", action="store_true", help="no TLS (a gateway whose API is plain, on loopback)")
        sp.add_argument("--timeout", type=float, default=timeout, help="deadline of the call in seconds")

    sub.add_parser("stubs", help="generate the stubs from proto/ and print where (no server needed)")

    sp = sub.add_parser("status", help="GetStatus: print the gateway's status")
    conn(sp, 30.0)

    sp = sub.add_parser("stream", help="StreamRecords: one line per record and per gap")
    conn(sp, None)
    sp.add_argument("--after-seq", type=int, help="resume after this seq (absent: from now on)")
    sp.add_argument("--signal", action="append", default=[], help="signal glob (repeatable)")
    sp.add_argument("--kind", action="append", default=[], choices=["samples", "scalar", "event", "frame", "document"], help="record kind (repeatable)")
    sp.add_argument("--build", help="build / job id")
    sp.add_argument("--max-batch", type=int, help="records per message")
    sp.add_argument("--count", type=int, help="stop after this many records")

    sp = sub.add_parser("store", help="Store / StoreStream a file; print the StoreResult")
    conn(sp, 120.0)
    sp.add_argument("--file", required=True)
    sp.add_argument("--data-type", required=True, choices=["structured", "document", "time_series", "file", "event"])
    sp.add_argument("--content-type", required=True)
    sp.add_argument("--access-pattern", required=True, choices=["realtime", "batch", "ml_training", "research", "archive"])
    sp.add_argument("--signal", required=True)
    sp.add_argument("--build")
    sp.add_argument("--layer", type=int)
    sp.add_argument("--class", dest="sensitivity", choices=["public", "internal", "sensitive", "confidential"], help="ask for at least this class")
    sp.add_argument("--source-time-ns", type=int, default=0)
    sp.add_argument("--meta", action="append", default=[], help="metadata key=value (repeatable)")
    sp.add_argument("--stream", action="store_true", help="use StoreStream whatever the size")
    return p


COMMANDS = {"stubs": cmd_stubs, "status": cmd_status, "stream": cmd_stream, "store": cmd_store}


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    api = Api(os.path.abspath(args.proto))
    import grpc

    try:
        COMMANDS[args.command](api, args)
    except grpc.RpcError as e:
        code = e.code() if hasattr(e, "code") else None
        details = e.details() if hasattr(e, "details") else str(e)
        fail(code.name if code is not None else "UNKNOWN", details or "", 3)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BrokenPipeError:
        sys.exit(0)
