"""Where an external model comes from: a user's `module:function` in an uploaded code directory, or a
Hugging Face `transformers` config built from scratch (never downloaded).

Either way the result is a *builder*: `build(width, depth) -> nn.Module` at the trial's vocabulary and
context, which role inference calls at two widths on the meta device and the trial calls once for real
(docs/external-models.md).

The user's function is called as `build(width=, depth=, vocab_size=, context_length=)`. A `transformers`
config keeps what it says about shape ratios (head size, query heads per key/value head, MLP ratio) and has
its width, depth, vocabulary and context set per model; its head size stays fixed, so heads grow with width
and the model's own 1/√d_head attention scale differs from μP's 1/d_head only by a constant.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from workers.external import HF_FIELDS, HF_MODEL_TYPES

Builder = Callable[[int, int], nn.Module]


class ModelSourceError(ValueError):
    """The model cannot be built as given: a missing entrypoint, an import error, a bad config. The message
    says what to fix (and, for an import error, ends with the traceback's last lines)."""


def _tail(exc: BaseException, lines: int = 6) -> str:
    text = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    return "\n".join(text[-lines:])


def _forget(package: str, code_path: str | None) -> None:
    """Drop `package` (and its submodules) from the import cache unless it was loaded from `code_path`: a
    worker process that ran another sweep's code of the same name must import this sweep's."""
    root = str(Path(code_path).resolve()) if code_path else None
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if root is None or not str(Path(origin).resolve()).startswith(root):
            del sys.modules[name]


def load_function(entrypoint: str, code_path: str | None) -> Callable[..., Any]:
    """The function named `module:function`, imported with `code_path` first on sys.path."""
    module_name, _, attr = entrypoint.partition(":")
    if not module_name or not attr or not all(p.isidentifier() for p in module_name.split(".")):
        raise ModelSourceError(
            f"entrypoint {entrypoint!r} must look like 'package.module:function' (e.g. my_models.llama:build)"
        )
    if code_path is not None:
        if not Path(code_path).is_dir():
            raise ModelSourceError(f"code directory {code_path!r} does not exist")
        resolved = str(Path(code_path).resolve())
        if resolved in sys.path:
            sys.path.remove(resolved)
        sys.path.insert(0, resolved)
    _forget(module_name.split(".")[0], code_path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):  # the entrypoint's own module
            where = f"in the code directory {code_path}" if code_path else "on the Python path (no --code)"
            message = f"entrypoint {entrypoint!r}: module {exc.name!r} not found {where}"
            raise ModelSourceError(message) from None
        raise ModelSourceError(  # something the user's module imports
            f"entrypoint {entrypoint!r}: importing {module_name} failed:\n{_tail(exc)}"
        ) from None
    except Exception as exc:  # the user's module raised while importing: show where
        raise ModelSourceError(
            f"entrypoint {entrypoint!r}: importing {module_name} failed:\n{_tail(exc)}"
        ) from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ModelSourceError(f"entrypoint {entrypoint!r}: {module_name} has no function {attr!r}")
    return function  # type: ignore[no-any-return]


def entrypoint_builder(
    entrypoint: str, code_path: str | None, vocab_size: int, context_length: int
) -> Builder:
    function = load_function(entrypoint, code_path)

    def build(width: int, depth: int) -> nn.Module:
        try:
            model = function(width=width, depth=depth, vocab_size=vocab_size, context_length=context_length)
        except Exception as exc:
            raise ModelSourceError(
                f"entrypoint {entrypoint!r} raised when called as build(width={width}, depth={depth}, "
                f"vocab_size={vocab_size}, context_length={context_length}):\n{_tail(exc)}"
            ) from None
        if not isinstance(model, nn.Module):
            raise ModelSourceError(
                f"entrypoint {entrypoint!r} returned {type(model).__name__}, not a torch.nn.Module"
            )
        return model

    return build


def _hf_sizes(config: dict[str, Any]) -> dict[str, Any]:
    """The given config's shape ratios: head size, query heads per key/value head, MLP ratio."""
    from transformers import AutoConfig

    model_type = config.get("model_type")
    if model_type not in HF_FIELDS:
        raise ModelSourceError(
            f"model.config.model_type {model_type!r}: mutransfer maps the sizes of {list(HF_MODEL_TYPES)}"
        )
    given = AutoConfig.for_model(**config)
    width_f, _, heads_f, kv_f, mlp_f, _ = HF_FIELDS[model_type]
    width, heads = getattr(given, width_f), getattr(given, heads_f)
    head_dim = getattr(given, "head_dim", None) or width // heads
    kv_heads = getattr(given, kv_f, None) if kv_f else None
    mlp = getattr(given, mlp_f, None) or 4 * width
    return {
        "head_dim": int(head_dim),
        "groups": heads // kv_heads if kv_heads else 1,
        "mlp_ratio": mlp / width,
    }


def hf_builder(config: dict[str, Any], vocab_size: int, context_length: int) -> Builder:
    """A `transformers` causal LM from `config` (a dict with `model_type`), sized per call."""
    try:
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError as exc:  # pragma: no cover - transformers is a dependency
        raise ModelSourceError(f"family hf needs the transformers package: {exc}") from None
    try:
        sizes = _hf_sizes(config)
    except (TypeError, ValueError, KeyError) as exc:
        if isinstance(exc, ModelSourceError):
            raise
        raise ModelSourceError(f"model.config is not a valid transformers config: {exc}") from None
    model_type = config["model_type"]
    width_f, depth_f, heads_f, kv_f, mlp_f, context_f = HF_FIELDS[model_type]
    remote = sorted({"auto_map", "trust_remote_code"} & set(config))
    if remote:
        raise ModelSourceError(
            f"model.config may not name remote code ({remote}): family hf builds transformers' own "
            f"{model_type} class; your own code is family custom"
        )

    def build(width: int, depth: int) -> nn.Module:
        head_dim = sizes["head_dim"]
        if width % head_dim or (width // head_dim) % sizes["groups"]:
            raise ModelSourceError(
                f"width {width} must be a multiple of the config's head size {head_dim} × its "
                f"{sizes['groups']} query heads per key/value head"
            )
        heads = width // head_dim
        fields = {
            **config,
            width_f: width,
            depth_f: depth,
            heads_f: heads,
            mlp_f: round(sizes["mlp_ratio"] * width),
            context_f: context_length,
            "vocab_size": vocab_size,
        }
        if kv_f:
            fields[kv_f] = heads // sizes["groups"]
        for special in ("bos_token_id", "eos_token_id", "pad_token_id"):  # mutransfer's tokenizers have none
            fields.setdefault(special, None)
        if "head_dim" in config or model_type == "llama":
            fields["head_dim"] = head_dim
        try:
            return AutoModelForCausalLM.from_config(AutoConfig.for_model(**fields), trust_remote_code=False)
        except (TypeError, ValueError) as exc:
            raise ModelSourceError(
                f"transformers could not build {model_type} at width {width}: {exc}"
            ) from None

    return build
