"""A Sparkplug B edge node of an independent implementation (aiospb, from PyPI) for the mqtt input's tests.

    PYTHON=<python 3.12+> PYVENV=pyvenv-sparkplug PYREQUIREMENTS=requirements-sparkplug.txt \
        test/tools/python.sh sparkplug_edge_node.py CONFIG_JSON        (test/tools/sparkplug-edge-node.ts does this)

CONFIG_JSON: {"host", "port", "username", "password", "group", "node", "device", "primary", "historianDir",
"scanRateMs"}. The node waits for its primary host's STATE before its births (aiospb's `NodeOptions.primary`)
and, while that host is offline, keeps its changes in aiospb's file historian and sends them (is_historical)
with the next change after the host came back: Sparkplug's store and forward, all of it aiospb's.

The node and its one device each have the metrics `Temperature` and `Counter` (Int64, aliases 1-2 on the
node, 11-12 on the device): the same names on both levels. Their values are the test's: one JSON object
per line on stdin, `{"node": {"Counter": 5}, "device": {"Temperature": 21}}`, read by aiospb's scanner at
`scanRateMs`. EOF on stdin ends the session cleanly (DDEATH, NDEATH, disconnect).

On stdout, one JSON object per line, for the test to wait on:
  {"event": "session"}                       connected and subscribed (waiting for the primary host)
  {"event": "publishing", "value": bool}    aiospb's own verdict whether it may publish data now
  {"event": "stored", "key": "G/N[/D]", "values": {"<alias>": v}}    changes kept in the historian
  {"event": "applied", "line": n}          the n-th stdin line is in the values the scanner reads
"""

import asyncio
import json
import logging
import sys

from aiospb.infra.encoding import JsonPayloadEncoder, ProtobufPayloadEncoder
from aiospb.infra.fs import FSHistorian
from aiospb.infra.inmem import InMemReadingStore
from aiospb.infra.paho import MQTTConfig, PahoMQTTClient
from aiospb.messages import NodeMessageSession
from aiospb.nodes import EdgeNode, MetricInfo, MetricsNetwork, NodeDevice
from aiospb.shared import DataType, DeviceKey, Metric, NodeOptions


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


NAMES = ("Temperature", "Counter")


class TestValues(MetricsNetwork):
    """The metrics of the node and its device: values set by the test over stdin."""

    def __init__(self, node: DeviceKey, device: DeviceKey):
        self.node = node
        self.device = device
        self.infos = {
            node: [MetricInfo(name, DataType.Int64, alias=1 + i) for i, name in enumerate(NAMES)],
            device: [MetricInfo(name, DataType.Int64, alias=11 + i) for i, name in enumerate(NAMES)],
        }
        self.values = {node: {name: 0 for name in NAMES}, device: {name: 0 for name in NAMES}}

    def get_device_keys(self) -> list[DeviceKey]:
        return [self.node, self.device]

    async def get_info(self, key: DeviceKey) -> list[MetricInfo]:
        return self.infos[key]

    async def read(self, key: DeviceKey, alias: int = 0, name: str = "") -> int:
        if not name:
            name = next(i.name for i in self.infos[key] if i.alias == alias)
        return self.values[key][name]

    async def write(self, key: DeviceKey, value, alias: int = 0, name: str = "") -> int:
        raise PermissionError("the test's metrics are read-only")

    async def connect_device(self, key: DeviceKey) -> None:
        return None

    async def disconnect_device(self, key: DeviceKey) -> None:
        return None


class ReportingHistorian(FSHistorian):
    """aiospb's file historian; every save is reported so the test sees what was stored, not sent."""

    async def save(self, key: DeviceKey, metrics: list[Metric]) -> None:
        await super().save(key, metrics)
        emit({"event": "stored", "key": key.path, "values": {str(m.alias): m.value for m in metrics}})


async def main(cfg: dict) -> None:
    group, node_id, device_id = cfg["group"], cfg["node"], cfg["device"]
    node_key = DeviceKey(f"{group}/{node_id}")
    device_key = DeviceKey(f"{group}/{node_id}/{device_id}")
    options = NodeOptions(primary=cfg["primary"], scan_rate=cfg.get("scanRateMs", 50), historian_dir=cfg["historianDir"])
    mqtt = PahoMQTTClient(
        f"lg-spb-edge-{group}-{node_id}",
        MQTTConfig(hostname=cfg["host"], port=cfg["port"], username=cfg["username"], password=cfg["password"], keepalive=5),
    )
    session = NodeMessageSession(node_key, mqtt, ProtobufPayloadEncoder(), JsonPayloadEncoder(), options)
    values = TestValues(node_key, device_key)
    # a reading store each: aiospb's in-memory store keys readings by metric name, and the node and its
    # device have the same names
    node = EdgeNode(NodeDevice(node_key, values, InMemReadingStore()), session, ReportingHistorian(cfg["historianDir"]), options)
    node.add_device(NodeDevice(device_key, values, InMemReadingStore()))

    await node.establish_session()
    emit({"event": "session"})

    async def watch_publishing() -> None:
        # aiospb has no callback for it: its own predicate, polled, tells when the node sends and when it stores
        last = None
        while True:
            now = node._can_publish_changes()
            if now != last:
                emit({"event": "publishing", "value": now})
                last = now
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch_publishing())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line_no = 0
    while line := await reader.readline():
        line_no += 1
        update = json.loads(line)
        for level, key in (("node", node_key), ("device", device_key)):
            values.values[key].update(update.get(level, {}))
        emit({"event": "applied", "line": line_no})
    watcher.cancel()
    await node.terminate_session()


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    asyncio.run(main(json.loads(sys.argv[1])))
