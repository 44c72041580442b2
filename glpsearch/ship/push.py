"""Upload an exported folder to the Hugging Face Hub, failing in one line a person can act on.

The token is required up front (`token=True`), so a missing login is told before any request
instead of surfacing as the server's 401; a refused token, a missing write permission or an
unreachable Hub each become a `UserError` that says the export itself is safe on disk.
"""

from __future__ import annotations

from pathlib import Path

from glpsearch.errors import UserError, first_line

COMMIT_MESSAGE = "Upload a layer-pruned model exported by glpsearch"


def check_repo(repo: str) -> None:
    """Refuse a malformed repo id before anything is built (offline, huggingface_hub's rule)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise UserError(f"{repo!r} is not a Hub repo id: {first_line(exc, 200)}") from None


def push_to_hub(folder: Path, repo: str, private: bool = False) -> str:
    """Create `repo` (a model repo; kept as it is if it exists) and upload `folder` into it.

    Returns the repo's URL. Raises UserError when there is no token, the Hub refuses it, or the
    Hub cannot be reached; `folder` is left as it was either way.
    """
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError
    from huggingface_hub.utils import httpx  # the HTTP library huggingface_hub itself uses

    check_repo(repo)
    later = f"{folder} is written; upload it later with `hf upload {repo} {folder}`"
    api = huggingface_hub.HfApi()
    try:
        url = api.create_repo(repo, token=True, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo, folder_path=folder, commit_message=COMMIT_MESSAGE, token=True
        )
    except LocalTokenNotFoundError:
        raise UserError(
            f"cannot push to {repo}: no Hugging Face token (log in with `hf auth login` or set "
            f"HF_TOKEN); {later}"
        ) from None
    except HfHubHTTPError as exc:
        raise UserError(f"the Hub refused the push to {repo}: {_refusal(exc)}; {later}") from None
    except (httpx.HTTPError, OSError) as exc:  # no network, a proxy, HF_HUB_OFFLINE=1
        raise UserError(
            f"cannot reach the Hugging Face Hub to push to {repo} ({first_line(exc, 200)}); {later}"
        ) from None
    return str(url)


def _refusal(exc: Exception) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return "401 Unauthorized, the token is invalid or expired (log in again: `hf auth login`)"
    if status == 403:
        return "403 Forbidden, the token may not write to this namespace (it needs write access)"
    return first_line(exc, 200)
