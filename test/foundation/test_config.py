"""The one config loader: bad configuration fails fast, naming the parameter and the file."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from roadedge.config import ConfigError, defaults, load_node_parameters, param, parameters_from_file, validate
from roadedge.profiles import load_profile


@dataclass(frozen=True, kw_only=True)
class Schema:
    rate: float = param(50.0, help="Hz", low=1.0, high=200.0)
    enabled: bool = param(True, help="switch")
    port: str = param(help="device path")  # required
    gains: list[float] = param([1.0, 2.0], help="list")
    mode: str = param("enforce", help="policy", choices=("enforce", "accept_unsigned"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_valid_file_gives_typed_values_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path, "/**:\n  ros__parameters:\n    rate: 20\nnode:\n  ros__parameters:\n    port: /dev/ttyS0\n"
    )
    cfg = load_node_parameters(path, "node", Schema)
    assert cfg == Schema(rate=20.0, enabled=True, port="/dev/ttyS0", gains=[1.0, 2.0])
    assert isinstance(cfg.rate, float)


def test_node_section_overrides_wildcard_and_nesting_flattens(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "node:\n  ros__parameters:\n    a:\n      b: 1\n/**:\n  ros__parameters:\n    a:\n      b: 0\n",
    )
    assert parameters_from_file(path, "node") == {"a.b": 1}


def test_namespaced_section(tmp_path: Path) -> None:
    path = write(tmp_path, "/veh1/node:\n  ros__parameters:\n    port: x\n")
    assert parameters_from_file(path, "node", "/veh1") == {"port": "x"}
    assert parameters_from_file(path, "node", "/veh2") == {}


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_node_parameters(tmp_path / "nope.yaml", "node", Schema)


def test_malformed_yaml_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "node: [unclosed\n")
    with pytest.raises(ConfigError, match=r"params\.yaml: not valid YAML"):
        load_node_parameters(path, "node", Schema)


def test_section_without_ros_parameters(tmp_path: Path) -> None:
    path = write(tmp_path, "node:\n  rate: 3\n")
    with pytest.raises(ConfigError, match="needs a 'ros__parameters' mapping"):
        load_node_parameters(path, "node", Schema)


def test_unknown_parameter_is_named_with_file(tmp_path: Path) -> None:
    path = write(tmp_path, "node:\n  ros__parameters:\n    port: x\n    rat: 3.0\n")
    with pytest.raises(ConfigError, match=r"params.yaml: node 'node' has no parameter 'rat'"):
        load_node_parameters(path, "node", Schema)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("rate: fast", "parameter 'rate' of node 'node': expected a number, got str 'fast'"),
        ("enabled: 1", "parameter 'enabled' of node 'node': expected true or false"),
        ("port: 5", "parameter 'port' of node 'node': expected a string"),
        ("gains: 3", "parameter 'gains' of node 'node': expected a list"),
        ("gains: [1, x]", r"parameter 'gains\[1\]' of node 'node': expected a number"),
        ("rate: 500", "parameter 'rate' of node 'node': 500.0 is above the maximum 200.0"),
        ("rate: 0", "below the minimum"),
        ("rate: .nan", "NaN is not allowed"),
        ("mode: relaxed", r"'relaxed' is not one of \['enforce', 'accept_unsigned'\]"),
    ],
)
def test_wrong_type_or_range_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, f"node:\n  ros__parameters:\n    port: x\n    {line}\n")
    with pytest.raises(ConfigError, match=message):
        load_node_parameters(path, "node", Schema)


def test_missing_required_parameter_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "node:\n  ros__parameters:\n    rate: 3.0\n")
    with pytest.raises(ConfigError, match=r"params\.yaml: node 'node' needs parameter 'port'"):
        load_node_parameters(path, "node", Schema)


def test_ros_builtin_parameters_are_accepted() -> None:
    cfg = validate({"port": "x", "use_sim_time": True}, Schema, node="n", source="test")
    assert cfg.port == "x"


def test_defaults_leave_out_required() -> None:
    assert defaults(Schema) == {"rate": 50.0, "enabled": True, "gains": [1.0, 2.0], "mode": "enforce"}


def test_profile_errors(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    with pytest.raises(ConfigError, match="profile 'ghost' not found"):
        load_profile("ghost", tmp_path)
    (tmp_path / "profiles" / "p.yaml").write_text("nodes:\n  - name: x\n")
    with pytest.raises(ConfigError, match=r"nodes\[0\]: each node needs an 'executable'"):
        load_profile("p", tmp_path)
    (tmp_path / "profiles" / "p.yaml").write_text("nodes:\n  - executable: a\n  - executable: a\n")
    with pytest.raises(ConfigError, match="node name used twice"):
        load_profile("p", tmp_path)


def test_claimed_dds_domains_keep_their_ports_below_the_ephemeral_range() -> None:
    """A claimed domain's RTPS ports (7400 + 250 id + 10 + 2 participant, 120 participants) stay under
    Linux's ephemeral ports, where the V2X and CAN hub sockets bind: above, a test's radio socket got a
    participant's datagrams. tools/with_env.sh claims from the same range."""
    from roadedge import local_dds

    low_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert low_ephemeral > 7400 + 250 * local_dds.MAX_SAFE_DOMAIN_ID + 11 + 2 * 119
    assert 1 <= int(os.environ["ROS_DOMAIN_ID"]) <= local_dds.MAX_SAFE_DOMAIN_ID  # this worker's
    env = {k: v for k, v in os.environ.items() if k != "ROS_DOMAIN_ID"}
    script = Path(__file__).parents[2] / "tools" / "with_env.sh"
    for _ in range(3):
        out = subprocess.run(
            [str(script), "printenv", "ROS_DOMAIN_ID"], env=env, capture_output=True, text=True, check=False
        )
        assert out.returncode == 0, out.stderr
        assert 1 <= int(out.stdout) <= local_dds.MAX_SAFE_DOMAIN_ID
