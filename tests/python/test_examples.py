"""examples/ (and the YAML in README.md): valid Kubernetes objects for the
Kubernetes versions users run, checked offline against the API's JSON schemas
(strict: an unknown or misspelt field fails), and consistent with each other:
the timings that prevent 504s during a rollout, names, ports, image, user."""

import re

import kubernetes_validate
import pytest
import yaml

from conftest import REPO, cargo_package, flags, parse_dockerfile, stages

EXAMPLES = REPO / "examples"
YAML_FILES = sorted(EXAMPLES.glob("*.yaml"))
# The oldest schema the pinned kubernetes-validate ships, the first with the
# native sleep hook on by default, its GA, and the newest.
VERSIONS = ["1.25", "1.30", "1.34", kubernetes_validate.latest_version()]
NATIVE_SLEEP_SINCE = "1.30"
# The first schema with image volumes (alpha in 1.31; on by default from 1.35).
IMAGE_VOLUME_SINCE = "1.31"
IMAGE = "ghcr.io/sleep-developers/sleep"


def documents(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def the(kind, name=None, files=YAML_FILES):
    found = [
        doc for path in files for doc in documents(path)
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def version_tuple(version):
    return tuple(int(part) for part in version.split(".")[:2])


def uses_native_sleep(doc):
    return "'sleep': {'seconds'" in str(doc)


def uses_image_volume(doc):
    return "'image': {'reference'" in str(doc)


def docs_yaml_blocks():
    text = (REPO / "README.md").read_text()
    return re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)


def test_the_examples_exist():
    names = {p.name for p in EXAMPLES.iterdir()}
    assert {
        "deployment.yaml", "ingress.yaml", "service.yaml", "keepalive-pod.yaml",
        "native-prestop-sleep.yaml", "image-volume.yaml", "Dockerfile.app",
    } <= names


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_every_example_is_valid_for_the_kubernetes_versions_it_targets(path, version):
    docs = documents(path)
    assert docs, f"{path} has no object"
    for doc in docs:
        if uses_native_sleep(doc) and version_tuple(version) < version_tuple(NATIVE_SLEEP_SINCE):
            continue  # covered by test_native_sleep_hook_is_unknown_before_1_29
        if uses_image_volume(doc) and version_tuple(version) < version_tuple(IMAGE_VOLUME_SINCE):
            continue  # covered by test_image_volumes_are_unknown_before_1_31
        # Raises on an invalid object, and on a kind/apiVersion it has no schema for.
        kubernetes_validate.validate(doc, version, strict=True)


def nodes(value):
    """Every mapping in a parsed YAML document."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from nodes(item)


def test_yaml_in_the_readme_is_from_the_examples():
    # So the README's YAML is as valid as the examples, and cannot drift from them:
    # a block is a whole example object, or a fragment of one (its keys with
    # the same values).
    blocks = docs_yaml_blocks()
    assert len(blocks) >= 3, "README.md has fewer yaml blocks than expected"
    examples = [node for path in YAML_FILES for doc in documents(path) for node in nodes(doc)]
    for block in blocks:
        (fragment,) = [doc for doc in yaml.safe_load_all(block) if doc is not None]
        assert any(
            all(key in node and node[key] == value for key, value in fragment.items())
            for node in examples
        ), f"not in examples/:\n{block}"


def test_native_sleep_hook_is_unknown_before_1_29():
    # Why the binary still matters: older API servers reject the native hook.
    doc = the("Deployment", "web-native-sleep")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, "1.28", strict=True)


def test_image_volumes_are_unknown_before_1_31():
    # Older API servers reject the volume: image-volume.yaml is for 1.31 on.
    doc = the("Deployment", "vendor-app")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, "1.30", strict=True)


@pytest.fixture(scope="module")
def pod():
    return the("Deployment", "web")["spec"]["template"]


@pytest.fixture(scope="module")
def container(pod):
    (container,) = pod["spec"]["containers"]
    return container


@pytest.fixture(scope="module")
def ingress():
    return the("Ingress", "web")


class TestRolloutTimings:
    """deployment.yaml + service.yaml + ingress.yaml: the fix for 504s."""

    @staticmethod
    def pre_stop_seconds(container):
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "/sleep" and len(command) == 2, command
        return float(command[1])

    @staticmethod
    def deregistration_delay(ingress):
        attributes = ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/target-group-attributes"]
        pairs = dict(item.split("=", 1) for item in attributes.split(","))
        return int(pairs["deregistration_delay.timeout_seconds"])

    def test_pre_stop_hook_runs_sleep_60(self, container):
        assert container["lifecycle"]["preStop"]["exec"]["command"] == ["/sleep", "60"]

    def test_grace_period_covers_the_sleep_and_an_app_shutdown(self, pod, container):
        assert pod["spec"]["terminationGracePeriodSeconds"] >= self.pre_stop_seconds(container) + 20

    def test_target_drains_before_the_sleep_ends(self, container, ingress):
        assert 0 < self.deregistration_delay(ingress) < self.pre_stop_seconds(container)

    def test_alb_health_check_is_the_readiness_probe(self, container, ingress):
        probe = container["readinessProbe"]["httpGet"]
        annotations = ingress["metadata"]["annotations"]
        assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == probe["path"]

    def test_alb_controller_with_ip_targets(self, ingress):
        # ip targets: traffic straight to pod IPs, and pod readiness gates work.
        assert ingress["spec"]["ingressClassName"] == "alb"
        assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/target-type"] == "ip"

    def test_readiness_gate_injection_for_the_namespace(self, ingress):
        namespace = the("Namespace", ingress["metadata"]["namespace"])
        assert namespace["metadata"]["labels"]["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"

    def test_ingress_service_and_pods_are_wired(self, pod, container, ingress):
        service = the("Service", "web")
        (rule,) = ingress["spec"]["rules"]
        (path,) = rule["http"]["paths"]
        backend = path["backend"]["service"]
        assert backend["name"] == service["metadata"]["name"]
        (port,) = service["spec"]["ports"]
        assert backend["port"]["name"] == port["name"]
        assert port["targetPort"] in [p["name"] for p in container["ports"]]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        namespaces = {d["metadata"]["namespace"] for d in (ingress, service, the("Deployment", "web"))}
        assert len(namespaces) == 1


def test_native_sleep_example_fits_its_grace_period():
    spec = the("Deployment", "web-native-sleep")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    seconds = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert isinstance(seconds, int) and 0 < seconds < spec["terminationGracePeriodSeconds"]


def release_tag():
    return cargo_package()["version"]


def final_user():
    final = stages(parse_dockerfile(REPO / "Dockerfile"))[-1]
    (user,) = [c.value[0] for c in final if c.cmd.upper() == "USER"]
    return [int(part) for part in user.split(":")]


def test_keepalive_pod_runs_sleep_infinity_from_our_image():
    pod = the("Pod", "keepalive")
    (container,) = pod["spec"]["containers"]
    assert container["image"] == f"{IMAGE}:{release_tag()}"
    assert container["command"] == ["/sleep", "infinity"]
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert [security["runAsUser"], security["runAsGroup"]] == final_user()


def test_app_dockerfile_copies_sleep_from_the_release_image():
    commands = parse_dockerfile(EXAMPLES / "Dockerfile.app")
    (stage,) = stages(commands)
    copies = [c for c in stage if c.cmd.upper() == "COPY" and "from" in flags(c)]
    (copy,) = copies
    assert flags(copy)["from"] == f"{IMAGE}:{release_tag()}"
    assert copy.value == ("/sleep", "/sleep")


# Every place the README names a release: an image tag (`sleep:X.Y.Z`, also
# in `oci-archive:...tar:X.Y.Z`), a git tag (`` `vX.Y.Z` `` or `refs/tags/vX.Y.Z`),
# a download's `version=X.Y.Z`. A bare `vX.Y.Z` is not counted: the README also
# names other projects' versions that way (kubelet v1.36.3). Cargo.toml's
# version is the one source; at a release the README follows it (see its
# Releasing section).
README_VERSION = re.compile(r"(?:sleep:|\.tar:|`v|tags/v|version=)(\d+\.\d+\.\d+)\b")


def test_the_readme_names_cargo_tomls_version_wherever_it_names_a_release():
    text = (REPO / "README.md").read_text()
    named = README_VERSION.findall(text)
    assert len(named) >= 10, f"the pattern no longer finds the README's versions: {named}"
    wrong = sorted({version for version in named if version != release_tag()})
    assert not wrong, f"README.md names {wrong}, Cargo.toml's version is {release_tag()}"
