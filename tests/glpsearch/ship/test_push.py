"""`export --push-to-hub` and `push_to_hub`, offline: HfApi is replaced by one whose methods take
the real methods' arguments (each call is bound to the real signature), resolve the token with
huggingface_hub's own code, and fail as the real client does: LocalTokenNotFoundError without a
token, HfHubHTTPError (401) for a refused one, the HTTP library's ConnectError without network."""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import HfApi, ModelCard, constants
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import CommitInfo, RepoUrl
from huggingface_hub.utils import build_hf_headers, httpx

from glpsearch.cli import main
from glpsearch.errors import UserError
from glpsearch.ship.push import push_to_hub

ENDPOINT = "https://huggingface.co"
TOKEN = "hf_glpsearch_test_token"


class Hub:
    """The Hub's side, in memory: the token it accepts, its repos and whether it is reachable."""

    def __init__(self) -> None:
        self.reachable = True
        self.repos: dict[str, dict] = {}
        self.calls: list[tuple[str, dict]] = []


class FakeHfApi(HfApi):
    hub: Hub

    def create_repo(self, *args, **kwargs) -> RepoUrl:
        call = self._send("create_repo", args, kwargs, "/api/repos/create")
        if call["repo_id"] in self.hub.repos:
            if not call["exist_ok"]:
                raise _http_error(409, "/api/repos/create", "You already created this model repo")
        else:
            self.hub.repos[call["repo_id"]] = {"private": bool(call["private"]), "files": {}}
        return RepoUrl(f"{ENDPOINT}/{call['repo_id']}", endpoint=ENDPOINT)

    def upload_folder(self, *args, **kwargs) -> CommitInfo:
        call = self._send("upload_folder", args, kwargs, "/api/models/{repo_id}/commit/main")
        if call["repo_id"] not in self.hub.repos:
            raise _http_error(404, f"/api/models/{call['repo_id']}/commit/main", "Not Found")
        folder = Path(call["folder_path"])
        files = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
        self.hub.repos[call["repo_id"]]["files"] = files
        oid = hashlib.sha1(b"".join(files.values())).hexdigest()
        return CommitInfo(
            commit_url=f"{ENDPOINT}/{call['repo_id']}/commit/{oid}",
            commit_message=call["commit_message"],
            commit_description="",
            oid=oid,
        )

    def _send(self, method: str, args: tuple, kwargs: dict, route: str) -> dict:
        """Bind the call to the real method (a wrong argument fails here), then act as the real
        client: build the headers (no token with token=True: LocalTokenNotFoundError), reach
        the Hub (or not), and have it check the token."""
        bound = inspect.signature(getattr(HfApi, method)).bind(self, *args, **kwargs)
        bound.apply_defaults()
        call = dict(bound.arguments)
        del call["self"]
        self.hub.calls.append((method, call))
        headers = build_hf_headers(token=call["token"])
        url = route.format(**call)
        if not self.hub.reachable:
            raise httpx.ConnectError(
                "[Errno -3] Temporary failure in name resolution",
                request=httpx.Request("POST", ENDPOINT + url),
            )
        if headers.get("authorization") != f"Bearer {TOKEN}":
            raise _http_error(401, url, "Invalid username or password.")
        return call


def _http_error(status: int, url: str, server_message: str) -> HfHubHTTPError:
    """As huggingface_hub's hf_raise_for_status words it."""
    request = httpx.Request("POST", ENDPOINT + url)
    response = httpx.Response(status, request=request, headers={"x-request-id": "Root=1-abc"})
    reason = {401: "Unauthorized", 404: "Not Found", 409: "Conflict"}[status]
    return HfHubHTTPError(
        f"{status} Client Error: {reason} for url: {ENDPOINT}{url} (Request ID: Root=1-abc)"
        f"\n\n{server_message}",
        response=response,
        server_message=server_message,
    )


@pytest.fixture
def hub(monkeypatch, tmp_path) -> Hub:
    """A fake Hub behind huggingface_hub.HfApi, and no token anywhere (no env, no token file)."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    state = Hub()
    monkeypatch.setattr(FakeHfApi, "hub", state, raising=False)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    return state


@pytest.fixture
def logged_in(hub, monkeypatch) -> Hub:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return hub


@pytest.fixture
def folder(tmp_path) -> Path:
    """A folder as export leaves it (its content does not matter to the upload)."""
    out = tmp_path / "export"
    out.mkdir()
    for name in ("config.json", "model.safetensors", "glpsearch.json", "README.md"):
        (out / name).write_text(name)
    return out


def test_push_creates_the_repo_and_uploads_the_folder(logged_in, folder):
    url = push_to_hub(folder, "me/tiny-pruned", private=True)
    assert url == f"{ENDPOINT}/me/tiny-pruned"
    assert [method for method, _ in logged_in.calls] == ["create_repo", "upload_folder"]
    created, uploaded = (call for _, call in logged_in.calls)
    assert (created["repo_id"], created["private"], created["exist_ok"]) == (
        "me/tiny-pruned", True, True,
    )  # fmt: skip
    assert uploaded["repo_id"] == "me/tiny-pruned" and Path(uploaded["folder_path"]) == folder
    assert logged_in.repos["me/tiny-pruned"]["files"].keys() == {
        "config.json", "model.safetensors", "glpsearch.json", "README.md",
    }  # fmt: skip


def test_pushing_again_to_an_existing_repo_uploads_a_new_commit(logged_in, folder):
    push_to_hub(folder, "me/tiny-pruned")
    (folder / "README.md").write_text("better card")
    push_to_hub(folder, "me/tiny-pruned")
    assert logged_in.repos["me/tiny-pruned"]["files"]["README.md"] == b"better card"
    assert logged_in.repos["me/tiny-pruned"]["private"] is False


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no token", "no Hugging Face token (log in with `hf auth login` or set HF_TOKEN)"),
        ("refused token", "401 Unauthorized, the token is invalid or expired"),
        ("no network", "cannot reach the Hugging Face Hub to push to me/tiny-pruned "
                       "([Errno -3] Temporary failure in name resolution)"),
    ],
)  # fmt: skip
def test_a_push_that_cannot_happen_is_one_clear_line(hub, folder, monkeypatch, setup, message):
    if setup == "refused token":
        monkeypatch.setenv("HF_TOKEN", "hf_expired")
    if setup == "no network":
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        hub.reachable = False
    with pytest.raises(UserError) as caught:
        push_to_hub(folder, "me/tiny-pruned")
    text = str(caught.value)
    assert "\n" not in text
    assert message in text
    assert f"{folder} is written; upload it later with `hf upload me/tiny-pruned {folder}`" in text
    assert not any(repo["files"] for repo in hub.repos.values())


def test_a_malformed_repo_id_is_refused_before_any_request(logged_in, folder):
    with pytest.raises(UserError, match="'me/tiny/pruned' is not a Hub repo id"):
        push_to_hub(folder, "me/tiny/pruned")
    assert logged_in.calls == []


# -- through the command ----------------------------------------------------------------------
def _export(out: Path, tiny_model: Path, task_file: Path, *extra: str) -> int:
    return main(["export", "--out", str(out), "--device", "cpu",
                 "--model", str(tiny_model), "--train", str(task_file), "--remove", "3,0",
                 *extra])  # fmt: skip


def test_export_push_to_hub_uploads_a_card_that_loads_the_repo(
    logged_in, tiny_model, task_file, tmp_path, capsys
):
    out = tmp_path / "model"
    assert _export(out, tiny_model, task_file, "--push-to-hub", "me/bert-tiny-2", "--private") == 0
    printed = capsys.readouterr().out
    assert f"pushed to {ENDPOINT}/me/bert-tiny-2" in printed
    uploaded = logged_in.repos["me/bert-tiny-2"]
    assert uploaded["private"] is True
    assert uploaded["files"].keys() == {path.name for path in out.iterdir()}
    card = ModelCard(uploaded["files"]["README.md"].decode())
    assert 'from_pretrained("me/bert-tiny-2")' in card.text and str(out) not in card.text
    assert card.data.pipeline_tag == "text-classification"


@pytest.mark.parametrize("setup", ["no token", "no network"])
def test_export_without_token_or_network_exits_2_and_keeps_the_export(
    hub, tiny_model, task_file, tmp_path, capsys, monkeypatch, setup
):
    if setup == "no network":
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        hub.reachable = False
    out = tmp_path / "model"
    assert _export(out, tiny_model, task_file, "--push-to-hub", "me/bert-tiny-2") == 2
    err = capsys.readouterr().err
    assert err.startswith("glpsearch: error: ") and err.count("\n") == 1
    assert ("no Hugging Face token" if setup == "no token" else "cannot reach") in err
    assert {"config.json", "model.safetensors", "README.md", "glpsearch.json"} <= {
        path.name for path in out.iterdir()
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--push-to-hub", "me/a/b"], "'me/a/b' is not a Hub repo id"),
        (["--private"], "--private goes with --push-to-hub REPO"),
    ],
)
def test_bad_push_options_are_refused_before_exporting(
    logged_in, tiny_model, task_file, tmp_path, capsys, extra, message
):
    out = tmp_path / "model"
    assert _export(out, tiny_model, task_file, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists() and logged_in.calls == []


def test_the_python_api_exports_and_pushes_through_the_same_code(
    logged_in, tiny_model, task_file, tmp_path
):
    import glpsearch

    options = {"remove": 1, "epochs": 1, "lr": 3e-3, "batch_size": 8, "max_length": 32}
    result = glpsearch.search(
        tiny_model, task_file, cache=tmp_path / "cache", force=True, progress=False, **options
    )
    out = tmp_path / "model"
    with pytest.raises(glpsearch.GLPSearchError, match="is not a Hub repo id"):
        result.export(out, layers_removed=1, push_to_hub="me/a/b")
    assert not out.exists() and logged_in.calls == []
    written = result.export(out, layers_removed=1, push_to_hub="me/bert-tiny-3", private=True)
    uploaded = logged_in.repos["me/bert-tiny-3"]
    assert uploaded["private"] is True
    assert uploaded["files"].keys() == {path.name for path in written}
    card = ModelCard(uploaded["files"]["README.md"].decode())
    assert 'from_pretrained("me/bert-tiny-3")' in card.text
    logged_in.reachable = False
    with pytest.raises(glpsearch.GLPSearchError, match="cannot reach"):
        result.export(tmp_path / "again", layers_removed=1, push_to_hub="me/bert-tiny-3")
