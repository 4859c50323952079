"""`aiqleads up --brokers 3`: the config each KRaft node of the local cluster is given."""

from __future__ import annotations

from pathlib import Path

from infra.settings import Settings
from infra.stack.kafka import KafkaService, cluster_bootstrap, replication_for


def rendered(settings: Settings, node: int) -> dict[str, str]:
    service = KafkaService(settings, node)
    service._write_config()
    lines = service.config_file.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_three_nodes_make_one_quorum_with_three_replicas(tmp_path: Path) -> None:
    bootstrap = cluster_bootstrap("127.0.0.1:19092", 3)
    settings = Settings(kafka_bootstrap=bootstrap, state_dir=tmp_path)
    nodes = KafkaService.cluster(settings)
    assert [n.name for n in nodes] == ["kafka", "kafka-2", "kafka-3"]
    assert len({n.home for n in nodes}) == 3  # each its own storage
    configs = [rendered(settings, n.node) for n in nodes]
    voters = "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    for node, config in enumerate(configs, 1):
        assert config["node.id"] == str(node)
        assert config["controller.quorum.voters"] == voters
        assert config["listeners"] == (f"PLAINTEXT://127.0.0.1:{19090 + 2 * node},"
                                       f"CONTROLLER://127.0.0.1:{19091 + 2 * node}")
        assert config["default.replication.factor"] == "3"
        assert config["min.insync.replicas"] == "2"
        assert config["offsets.topic.replication.factor"] == "3"


def test_one_node_keeps_single_replicas(tmp_path: Path) -> None:
    config = rendered(Settings(kafka_bootstrap="127.0.0.1:19092", state_dir=tmp_path), 1)
    assert config["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == ("1", "1")
    assert replication_for(1) == (1, 1) and replication_for(3) == (3, 2)
