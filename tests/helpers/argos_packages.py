"""Build randomly initialised argos packages, for tests and benchmarks only.

A random model translates nothing, but it exercises the real path (package layout,
SentencePiece, CTranslate2) at any size: tiny for tests, Transformer-base (6+6 layers,
d_model 512, 32k vocabulary, the size of real argos packages) for speed measurements.
It never emits end-of-sentence, so callers cap the decoding length.

Needs only ctranslate2, numpy and sentencepiece (no torch, no transformers): the weights are
written straight into a CTranslate2 model specification.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The shape of a real argos package's model (Transformer-base: 6+6 layers, d_model 512,
# 8 heads, FFN 2048, 32k vocabulary): the benchmarks' random packages have it.
TRANSFORMER_BASE = {
    "layers": 6,
    "d_model": 512,
    "heads": 8,
    "ffn_dim": 2048,
    "model_vocab_size": 32000,
}


def train_sentencepiece(corpus: Sequence[str], prefix: Path, vocab_size: int) -> Path:
    """A unigram model on ``corpus`` whose first pieces are <unk>, <s>, </s> (CTranslate2's
    special tokens), so its piece list is the model vocabulary."""
    import sentencepiece as spm

    chars = {char for line in corpus for char in line if not char.isspace()}
    vocab_size = max(vocab_size, len(chars) + 8)  # every character needs its own piece
    text = prefix.with_suffix(".txt")
    text.write_text("\n".join(corpus) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(prefix),
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        num_threads=1,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def _shape(name: str, vocab: int, d_model: int, ffn_dim: int) -> tuple[int, ...]:
    """Shape of each weight of a CTranslate2 Transformer spec, from its name."""
    if "embeddings" in name or "projection" in name:
        return (vocab, d_model)
    if "layer_norm" in name:
        return (d_model,)
    if "ffn/linear_0" in name:
        return (ffn_dim, d_model)
    if "ffn/linear_1" in name:
        return (d_model, ffn_dim)
    if "self_attention/linear_0" in name:
        return (3 * d_model, d_model)  # fused query/key/value
    if "/attention/linear_1" in name:
        return (2 * d_model, d_model)  # fused key/value of the encoder output
    return (d_model, d_model)


def build_random_model(
    out_dir: Path,
    tokens: Sequence[str],
    *,
    layers: int = 1,
    d_model: int = 32,
    heads: int = 2,
    ffn_dim: int = 64,
    seed: int = 0,
    quantization: str = "int8",
) -> Path:
    """A pre-norm Transformer with sinusoidal positions (OpenNMT-py's layout, as argos' models
    are) and random weights, written straight from a CTranslate2 spec: no torch needed."""
    import numpy as np
    from ctranslate2.specs import transformer_spec

    spec = transformer_spec.TransformerSpec.from_config((layers, layers), heads)
    rng = np.random.default_rng(seed)
    gain = 1.0 / np.sqrt(d_model)

    def fill(layer: Any, name: str, value: Any) -> None:
        if value is not None:
            return
        shape = _shape(name, len(tokens), d_model, ffn_dim)
        attribute = name.rsplit("/", 1)[-1]
        if attribute == "gamma":
            array = np.ones(shape, dtype=np.float32)
        elif attribute == "beta":
            array = np.zeros(shape, dtype=np.float32)
        else:
            array = rng.normal(0.0, gain, size=shape).astype(np.float32)
        setattr(layer, attribute, array)

    spec._visit(fill)
    spec.register_source_vocabulary(list(tokens))
    spec.register_target_vocabulary(list(tokens))
    spec.validate()
    spec.optimize(quantization=quantization)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec.save(str(out_dir))
    return out_dir


def build_random_package(
    out_dir: Path,
    from_code: str,
    to_code: str = "en",
    *,
    corpus: Sequence[str],
    package_version: str = "0.0-random",
    sp_vocab_size: int = 200,
    model_vocab_size: int | None = None,
    layers: int = 1,
    d_model: int = 32,
    heads: int = 2,
    ffn_dim: int = 64,
    seed: int = 0,
    quantization: str = "int8",
) -> Path:
    """Write an argos package folder ``out_dir`` (SentencePiece trained on ``corpus``, random
    model) and return it.

    ``model_vocab_size`` pads the model's vocabulary with unused tokens up to that size, so the
    output layer costs what a real 32k-vocabulary package costs.
    """
    import sentencepiece as spm

    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        sp_model = train_sentencepiece(corpus, Path(scratch) / "sp", sp_vocab_size)
        shutil.copy(sp_model, out_dir / "sentencepiece.model")
    sp = spm.SentencePieceProcessor(model_file=str(out_dir / "sentencepiece.model"))
    tokens = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    if model_vocab_size and model_vocab_size > len(tokens):
        tokens += [f"<unused{i}>" for i in range(model_vocab_size - len(tokens))]
    build_random_model(
        out_dir / "model",
        tokens,
        layers=layers,
        d_model=d_model,
        heads=heads,
        ffn_dim=ffn_dim,
        seed=seed,
        quantization=quantization,
    )
    metadata = {
        "package_version": package_version,
        "argos_version": "1.9.0",
        "code": f"translate-{from_code}_{to_code}",
        "type": "translate",
        "from_code": from_code,
        "from_name": from_code,
        "to_code": to_code,
        "to_name": to_code,
        "links": [],
    }
    (out_dir / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    return out_dir


def zip_package(folder: Path, target: Path) -> Path:
    """A ``.argosmodel`` file: a zip of the package folder (one top-level folder)."""
    folder = Path(folder)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, Path(folder.name) / path.relative_to(folder))
    return Path(target)
