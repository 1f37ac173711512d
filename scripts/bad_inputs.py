"""Feed `skillit` bad inputs and tabulate what each one gets back (exit code, last error line).

    .venv/bin/python scripts/bad_inputs.py [--out bad_inputs.md]

Every case must end with exit code 2 and one `skillit <verb>: error: ...` line (or, where the
input is accepted, exit 0 with a `skillit: warning` or a note saying what was done instead), never a
traceback. The cases run in a temporary folder that
holds the small bad files they need.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TINY = "trainer.max_steps=4 mixing.rounds=2 logger.wandb=off trainer.progress_bar=false data.lego.val_size=10 model.n_layer=1"

FILES = {
    "ok.jsonl": '{"skill": "a", "prompt": "x", "answer": "y"}\n',
    "notjson.jsonl": "not json\n",
    "missing.jsonl": '{"skill": "a"}\n',
    "broken.yaml": "matrix: [1\n",
    "list.yaml": "- a\n- b\n",
    "unknown.yaml": "bogus: 1\n",
    "zero_graph.json": '{"format": "skillit-graph", "train_skills": ["lego1", "lego2", "lego3", "lego4", "lego5"], "matrix": [[0,0,0,0,0],[0,0,0,0,0],[0,0,0,0,0],[0,0,0,0,0],[0,0,0,0,0]]}',
    "neg_graph.json": '{"format": "skillit-graph", "train_skills": ["lego1", "lego2", "lego3", "lego4", "lego5"], "matrix": [[1,0,0,0,0],[-1,1,0,0,0],[0,0,1,0,0],[0,0,0,1,0],[0,0,0,0,1]]}',
    "badjson_graph.json": "{not json",
    "shape_graph.json": '{"format": "skillit-graph", "train_skills": ["lego1"], "matrix": [[1, 2]]}',
    "empty.ckpt": "",
    "suite_unknown.yaml": "config: x.yaml\nsteps: 3\nstrategies: {a: [mixing.strategy=random]}\nbogus: 1\n",
    "suite_nosteps.yaml": "config: x.yaml\nstrategies: {a: [mixing.strategy=random]}\n",
    "extends_number.yaml": "extends: 5\nseed: 1\n",
    "user_dir/notes.txt": "a user's own file\n",
    "user_dir/config.yaml": "my own settings\n",
    "tool_dir/config.yaml": "another tool's settings\n",
    "tool_dir/checkpoints/model.pt": "another tool's weights\n",
    "user_corpus/tokenizer.json": "{}\n",
    "user_corpus/web/crawl.txt": "a user's crawl\n",
    "user_graph/probes/notes.md": "a user's notes\n",
    "hist_run/mixture_history.jsonl": '{"round": 1, "step": 4, "weights": {"a": 0.5, "b": 0.5}}\n',
    "hist_null/mixture_history.jsonl": '{"round": 1, "step": 4, "weights": null}\n',
    "hist_steps/mixture_history.jsonl": (
        '{"round": 1, "step": 8, "weights": {"a": 0.5, "b": 0.5}}\n'
        '{"round": 2, "step": 4, "weights": {"a": 0.5, "b": 0.5}}\n'
    ),
    "hist_skills/mixture_history.jsonl": (
        '{"round": 1, "step": 4, "weights": {"a": 0.5, "b": 0.5}}\n'
        '{"round": 2, "step": 8, "weights": {"a": 0.5, "c": 0.5}}\n'
    ),
}
# name -> what the symbolic link points to (a user's file, outside the folder skillit writes)
LINKS = {"linked_out/mixture_schedule.yaml": "user_dir/notes.txt"}
BINARY = {
    "latin.jsonl": b"\xff\xfe bad\n",
    "garbage.ckpt": bytes(range(256)) * 4,
    "latin_txt/a.txt": b"caf\xe9 latin-1 text\n",
    "latin_text.jsonl": b'{"text": "caf\xe9"}\n',
}
# damaged files of the kinds tests/test_fuzz_inputs.py generates, one per kind it found a bug in
FILES |= {
    "hist_round/mixture_history.jsonl": '{"round": "a", "step": 4, "weights": {"a": 1}}\n',
    "hist_zero/mixture_history.jsonl": '{"round": 1, "step": 4, "weights": {"a": 0, "b": 0}}\n',
    "hist_next/mixture_history.jsonl": (
        '{"round": 1, "step": 4, "weights": {"a": 0.5, "b": 0.5}, "next_weights": 5}\n'
    ),
    "huge_graph.json": '{"train_skills": ["a"], "matrix": [[1' + "0" * 400 + "]]}",
    "seed_run/.skillit-run": "",
    "seed_run/config.yaml": "seed: [1]\n",
    "seed_run/final_eval.json": '{"eval_acc": {"a": 0.5}}\n',
    "seed_ok_run/.skillit-run": "",
    "seed_ok_run/config.yaml": "seed: 2\n",
    "seed_ok_run/final_eval.json": '{"eval_acc": {"a": 0.5}}\n',
    "escape_corpus/manifest.json": json.dumps(
        {
            "format": "skillit-tokens",
            "dtype": "uint16",
            "vocab_size": 300,
            "eos_id": 2,
            "tokenizer": "tokenizer.json",
            "domains": {"../../escaped": {"train": [], "val": []}},
        }
    ),
    "lock_run/run.lock/notes.txt": "run.lock is a folder here\n",
}
BINARY |= {"deep_corpus/manifest.json": b"[" * 100_000}


# -- inputs of `skillit prepare`, and corpora for what reads one --------------------------------
def tokenizer_json(pattern: str) -> str:
    """A tokenizer.json of 4 tokens (<pad> <unk> <eos> a) splitting text on regex `pattern`."""
    split = {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Removed", "invert": False}
    vocab = {"<pad>": 0, "<unk>": 1, "<eos>": 2, "a": 3}
    return json.dumps(
        {
            "version": "1.0",
            **dict.fromkeys(("truncation", "padding", "normalizer", "post_processor", "decoder")),
            "added_tokens": [],
            "pre_tokenizer": split,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
        }
    )


def uint16(ids: list[int], width: int = 2) -> bytes:
    return b"".join(i.to_bytes(width, "little") for i in ids)


def tokens_corpus(name: str, vocab_size: int, train_tokens: int, top: int) -> None:
    """A prepared corpus by hand (manifest, tokenizer, shards) into FILES and BINARY: the
    manifest lists `vocab_size` and `train_tokens`, the train shard holds 400 ids, every third
    `top` (so that any window of training reads one)."""
    ids = [3, top, 2] * 133 + [2]
    train, val = (
        {"file": "a/train.bin", "tokens": train_tokens},
        {"file": "a/val.bin", "tokens": 399},
    )
    domain = {"train": [train], "val": [val], "documents": 2}
    manifest = {"format": "skillit-tokens", "version": 1, "dtype": "uint16", "eos_id": 2}
    manifest |= {"vocab_size": vocab_size, "tokenizer": "tokenizer.json", "domains": {"a": domain}}
    FILES[f"{name}/manifest.json"] = json.dumps(manifest)
    FILES[f"{name}/tokenizer.json"] = tokenizer_json(r"\s+")
    BINARY[f"{name}/a/train.bin"] = uint16(ids)
    BINARY[f"{name}/a/val.bin"] = uint16(ids[:399])


FILES |= {
    **{
        f"prose_docs/doc{i}.txt": f"document {i} of plain words, the same few words\n"
        for i in range(8)
    },
    "stray_out/prose/chunk_notes.json": "a user's notes\n",
    "empty_out/prose/chunk_00000.json": "",
    "link_docs/a.txt": "a document\n",
    "dir_docs/a.txt": "a document\n",
    "dir_docs/chapter.txt/part.txt": "a folder named like a document\n",
    "x_docs/a.txt": "x" * 3000 + "\n",
    "ok_tokenizer.json": tokenizer_json(r"\s+"),
    "unclosed_regex_tokenizer.json": tokenizer_json("("),
    "runaway_regex_tokenizer.json": tokenizer_json("(a+)+b"),
    "x_runaway_tokenizer.json": tokenizer_json("(x+)+y"),
}
LINKS |= {
    "link_docs/gone.txt": "moved.txt",  # dangling
    "full_out/prose/train_00000.bin.tmp": "/dev/full",  # a link planted at a temporary name
}
BINARY |= {"nano/train.bin": uint16([1, 2, 3] * 100), "nano/val.bin": uint16([3] * 20 + [50256])}
BINARY |= {f"nano32/{split}.bin": uint16([1, 2, 3] * 100, width=4) for split in ("train", "val")}
tokens_corpus("ids_corpus", vocab_size=4, train_tokens=400, top=50256)
tokens_corpus("edited_corpus", vocab_size=4, train_tokens=380, top=3)
tokens_corpus("vocab_corpus", vocab_size=8, train_tokens=400, top=3)
PREPARE = "prepare {} --bpe-vocab 300 --no-progress --domain prose="

# (what, command line after `skillit`)
CASES = [
    ("no arguments", ""),
    ("unknown verb", "fly"),
    ("train: nothing to train", "train"),
    ("train: unknown shipped name", "train nosuch"),
    ("train: missing yaml path", "train missing.yaml"),
    ("train: broken yaml", "train broken.yaml"),
    ("train: yaml holding a list", "train list.yaml"),
    ("train: unknown key in yaml", "train unknown.yaml"),
    ("train: unknown key override", "train lego bogus=1"),
    ("train: unknown nested key", "train lego data.bogus=1"),
    ("train: override without =", "train lego seed"),
    ("train: wrong type", "train lego seed=abc"),
    ("train: broken list syntax", "train lego skills.train=[lego1,"),
    ("train: negative seed", f"train lego seed=-1 {TINY}"),
    ("train: zero steps", "train lego trainer.max_steps=0"),
    ("train: more rounds than steps", "train lego trainer.max_steps=3 mixing.rounds=5"),
    ("train: compose with 1 symbol", "train ordered data.compose.n_symbols=1"),
    ("train: compose depths not increasing", "train ordered data.compose.depths=[2,1]"),
    ("train: compose proportions of wrong length", "train ordered data.compose.proportions=[1,2]"),
    (
        "train: compose novel split as a training skill",
        "train ordered skills.train=[depth1,depth3_novel] mixing.strategy=random mixing.graph.path=null",
    ),
    ("train: compose separator that is a symbol", "train ordered data.compose.separator=x1"),
    ("train: unknown strategy", "train lego mixing.strategy=best"),
    ("train: unknown setting", "train lego mixing.setting=ood"),
    ("train: negative eta", "train lego mixing.skillit.eta=-1"),
    ("train: infinite eta", "train lego mixing.skillit.eta=inf"),
    ("train: window 0", "train lego mixing.skillit.window=0"),
    ("train: eval_every not dividing", "train lego mixing.eval_every=7"),
    ("train: lr 0", "train lego optim.lr=0"),
    ("train: bad betas", "train lego optim.betas=[0.9]"),
    ("train: dropout 1.5", f"train lego model.dropout=1.5 {TINY}"),
    ("train: d_model not divisible by heads", f"train lego model.d_model=30 model.n_head=4 {TINY}"),
    ("train: seq len too short", f"train lego model.max_seq_len=4 {TINY}"),
    ("train: unknown backend", "train lego model.backend=jax"),
    ("train: hf without path or config", "train lego model.backend=hf"),
    ("train: hf path not a model", f"train lego model.backend=hf model.hf_path=. {TINY}"),
    ("train: unknown train loss", "train lego model.train_loss=prompt"),
    ("train: init_from missing", f"train lego model.init_from=nope.ckpt {TINY}"),
    ("train: init_from garbage", f"train lego model.init_from=garbage.ckpt {TINY}"),
    ("train: accelerator gpu on cpu", f"train lego trainer.accelerator=gpu {TINY}"),
    ("train: precision fp8", f"train lego trainer.precision=fp8 {TINY}"),
    ("train: devices 0", f"train lego trainer.devices=0 {TINY}"),
    ("train: threads 0", f"train lego trainer.threads=0 {TINY}"),
    (
        "train: batch not dividing ranks",
        f"train lego trainer.devices=2 trainer.strategy=ddp trainer.accelerator=cpu data.global_batch_size=15 {TINY}",
    ),
    ("train: unknown source", "train lego data.source=web"),
    ("train: unknown skill", "train lego skills.train=[lego9]"),
    ("train: duplicate skill", "train lego skills.train=[lego1,lego1]"),
    ("train: CPT with other eval skills", "train lego skills.eval=[lego1]"),
    ("train: skillit without a graph", f"train lego mixing.strategy=skillit {TINY}"),
    ("train: graph and matrix both", "train lego_cpt mixing.graph.matrix=[[1]]"),
    ("train: graph file missing", "train lego mixing.strategy=skillit mixing.graph.path=nope.json"),
    (
        "train: graph not json",
        "train lego mixing.strategy=skillit mixing.graph.path=badjson_graph.json",
    ),
    (
        "train: graph of wrong shape",
        "train lego mixing.strategy=skillit mixing.graph.path=shape_graph.json",
    ),
    (
        "train: graph with negative entries",
        "train lego mixing.strategy=skillit mixing.graph.path=neg_graph.json",
    ),
    (
        "train: graph with no positive entry",
        f"train lego mixing.strategy=skillit mixing.graph.path=zero_graph.json {TINY}",
    ),
    ("train: unknown graph.negative", "train lego mixing.graph.negative=drop"),
    (
        "train: manual weights of wrong length",
        "train lego mixing.strategy=manual mixing.weights=[1,2]",
    ),
    (
        "train: manual weights all zero",
        "train lego mixing.strategy=manual mixing.weights=[0,0,0,0,0]",
    ),
    ("train: lego k 30", "train lego data.lego.k=30"),
    ("train: lego unknown format", "train lego data.lego.fmt=prose"),
    ("train: lego proportions wrong length", "train lego data.lego.proportions=[1,2]"),
    ("train: addition digits 0", "train lego data.source=addition data.addition.digits=0"),
    ("train: jsonl without a path", "train lego data.source=jsonl"),
    ("train: jsonl missing file", "train lego data.source=jsonl data.jsonl.path=nope.jsonl"),
    ("train: jsonl not json", f"train lego data.source=jsonl data.jsonl.path=notjson.jsonl {TINY}"),
    (
        "train: jsonl missing fields",
        f"train lego data.source=jsonl data.jsonl.path=missing.jsonl {TINY}",
    ),
    ("train: jsonl not utf-8", f"train lego data.source=jsonl data.jsonl.path=latin.jsonl {TINY}"),
    ("train: natinst without a root", "train lego data.source=natinst data.natinst.root=null"),
    ("train: natinst root missing", "train lego data.source=natinst data.natinst.root=nope"),
    ("train: natinst unknown natural", "train lego data.natinst.natural=words"),
    ("train: run_dir is a file", f"train lego run_dir=ok.jsonl {TINY}"),
    ("train: resume a missing run", "train --resume nope"),
    ("train: resume an empty checkpoint", "train --resume empty.ckpt"),
    ("train: resume and overwrite", "train lego --resume x --overwrite"),
    ("train: unknown flag", "train lego --bogus"),
    ("train: negative curriculum pool", "train lego mixing.curriculum_pool=0"),
    ("train: stages 0", "train lego mixing.stages=0"),
    ("generate: unknown task", "generate chess --n 5 --output x.jsonl"),
    ("generate: negative n", "generate lego --n -1 --output x.jsonl"),
    ("generate: k 0", "generate lego --k 0 --n 5 --output x.jsonl"),
    ("generate: bad proportions", "generate lego --n 5 --proportions 1,x --output x.jsonl"),
    ("generate: output in a missing folder", "generate lego --n 5 --output nope/x.jsonl"),
    ("generate: compose depths not numbers", "generate compose --depths 1,x --n 5"),
    ("generate: compose novel fraction 1", "generate compose --novel-fraction 1 --n 5"),
    ("generate: compose with --format", "generate compose --format chain --n 5"),
    ("graph learn: no config", "graph learn --method linear"),
    ("graph learn: unknown method", "graph learn lego_chain --method magic"),
    ("graph learn: steps 0", "graph learn lego_chain --method linear --steps 0"),
    ("graph learn: seeds 0", "graph learn lego_chain --method linear --seeds 0"),
    ("graph learn: jobs 0", "graph learn lego_chain --method linear --jobs 0"),
    (
        "graph learn: brute out of domain",
        "graph learn lego_chain --method brute skills.train=[lego1,lego2] skills.eval=[lego3]",
    ),
    ("graph plot: missing file", "graph plot nope.json"),
    ("graph plot: not json", "graph plot badjson_graph.json"),
    ("bench: no suite", "bench"),
    ("bench: unknown suite", "bench nosuch"),
    ("bench: unknown variant", "bench lego-cpt --variant gpu"),
    ("bench: unknown strategy", "bench lego-cpt --strategies best"),
    ("bench: bad seeds", "bench lego-cpt --seeds a,b"),
    ("bench: jobs 0", "bench lego-cpt --jobs 0"),
    (
        "bench: steps not fitting eval_every",
        "bench lego-cpt --steps 120 --seeds 0-0 --strategies random --no-progress --out bench_out",
    ),
    ("bench: suite with unknown key", "bench suite_unknown.yaml"),
    ("bench: suite without steps", "bench suite_nosteps.yaml"),
    ("train: aioli rounds shorter than its probes", f"train {TINY} mixing.strategy=aioli"),
    (
        "train: aioli one-hot factor 0",
        f"train {TINY} mixing.strategy=aioli mixing.aioli.one_hot_factor=0",
    ),
    (
        "train: aioli fine-tuning (eval != train)",
        f"train {TINY} mixing.strategy=aioli mixing.setting=fine_tuning skills.eval=[lego3]",
    ),
    (
        "train: odm negative update interval",
        f"train {TINY} mixing.strategy=odm mixing.odm.update_every=-2",
    ),
    ("train: odm alpha 1", f"train {TINY} mixing.strategy=odm mixing.odm.alpha=1"),
    ("train: options for a strategy that takes none", f"train lego mixing.options.x=1 {TINY}"),
    ("train: the old name of a key (mixing.eta)", f"train lego mixing.eta=0.3 {TINY}"),
    ("train: old and new name of a key together", "train lego mixing.eta=0.3 mixing.skillit.eta=1"),
    ("train: unknown ODM policy", "train lego mixing.strategy=odm mixing.odm.policy=ucb"),
    ("train: unknown ODM warm-up mixture", "train lego mixing.odm.warmup_weights=zipf"),
    ("train: Aioli diagonal not a boolean", "train lego mixing.aioli.diagonal=maybe"),
    ("train: doremi without a reference", f"train lego mixing.strategy=doremi {TINY}"),
    (
        "train: doremi reference missing",
        f"train lego mixing.strategy=doremi mixing.doremi.reference=nope.ckpt {TINY}",
    ),
    (
        "train: doremi reference that would run code",
        f"train lego mixing.strategy=doremi mixing.doremi.reference=evil.ckpt {TINY}",
    ),
    (
        "train: init_from a checkpoint that would run code",
        f"train lego model.init_from=evil.ckpt {TINY}",
    ),
    (
        "train: curriculum reference that would run code",
        f"train lego mixing.strategy=curriculum mixing.curriculum_reference=evil.ckpt {TINY}",
    ),
    ("train: resume a checkpoint that would run code", "train --resume evil_run"),
    ("train: resume a torch file that is not a checkpoint", "train --resume plain_run"),
    ("train: resume a run whose config.yaml was edited", "train --resume edited_run"),
    ("train: run name with ..", f"train lego name=../../escape {TINY}"),
    ("train: run name that is a path", f"train lego name=/tmp/x {TINY}"),
    (
        "train: --overwrite on a folder that is not a run",
        f"train lego run_dir=user_dir --overwrite {TINY}",
    ),
    ("train: extends is a number", "train extends_number.yaml"),
    ("mixture export: unknown average", "mixture export hist_run --average median"),
    (
        "mixture export: update average without next weights",
        "mixture export hist_run --average updates",
    ),
    (
        "prepare: domain name with ..",
        "prepare corpus_out --bpe-vocab 300 --domain ../x=missing.jsonl",
    ),
    (
        "prepare: domain name manifest.json",
        "prepare corpus_out --bpe-vocab 300 --domain manifest.json=missing.jsonl",
    ),
    (
        "train: ODM warm-up longer than the run",
        f"train lego mixing.strategy=odm mixing.odm.warmup_steps=100 {TINY}",
    ),
    (
        "train: ODM update interval longer than a round",
        f"train lego mixing.strategy=odm mixing.odm.update_every=50 {TINY}",
    ),
    (
        "train: Aioli first probe round after the last",
        f"train {TINY} mixing.strategy=aioli mixing.aioli.first_probe_round=5",
    ),
    ("mixture export: null weights", "mixture export hist_null"),
    ("mixture export: steps going back", "mixture export hist_steps"),
    ("mixture export: skills changing between rounds", "mixture export hist_skills"),
    ("mixture export: --out is a file", "mixture export hist_run --out ok.jsonl"),
    ("mixture plot: --out in a missing folder", "mixture plot hist_run --out nope/x.png"),
    ("graph learn: --out is a file", "graph learn lego_chain --method linear --out ok.jsonl"),
    (
        "prepare: the same domain twice",
        "prepare corpus_out --bpe-vocab 300 --domain a=ok.jsonl --domain a=missing.jsonl",
    ),
    ("prepare: --bpe-vocab 0", "prepare corpus_out --bpe-vocab 0 --domain a=ok.jsonl"),
    (
        "prepare: --bpe-vocab absurd",
        "prepare corpus_out --bpe-vocab 99999999999 --domain a=ok.jsonl",
    ),
    (
        "prepare: negative --bpe-sample-docs",
        "prepare corpus_out --bpe-vocab 300 --bpe-sample-docs -1 --domain a=ok.jsonl",
    ),
    ("prepare: OUT is a file", "prepare ok.jsonl --bpe-vocab 300 --domain a=missing.jsonl"),
    ("prepare: .txt that is not UTF-8", "prepare corpus_out --bpe-vocab 300 --domain a=latin_txt"),
    (
        "prepare: JSONL that is not UTF-8",
        "prepare corpus_out --bpe-vocab 300 --domain a=latin_text.jsonl",
    ),
    ("prepare: nothing to prepare", "prepare corpus_out --bpe-vocab 300"),
    ("prepare: domain path missing", "prepare corpus_out --bpe-vocab 300 --domain a=nope"),
    ("prepare: domain without NAME=", "prepare corpus_out --bpe-vocab 300 --domain nope"),
    (
        "prepare: JSONL without the text field",
        "prepare corpus_out --bpe-vocab 300 --domain a=missing.jsonl",
    ),
    ("prepare: --bin without a tokenizer", "prepare corpus_out --bin a=."),
    ("train: tokens source without a path", "train domains_cpu"),
    (
        "train: tokens source on a folder that is not a corpus",
        "train domains_cpu data.tokens.path=.",
    ),
    (
        "train: --overwrite on another tool's folder that looks like a run",
        f"train lego run_dir=tool_dir --overwrite {TINY}",
    ),
    (
        "prepare: --fresh into a folder that never held a corpus",
        "prepare user_corpus --bpe-vocab 300 --domain web=ok.jsonl --fresh",
    ),
    (
        "graph learn: --fresh with the user's probes/ in --out",
        "graph learn lego_chain --method linear --fresh --out user_graph",
    ),
    (
        "mixture export: a link planted at an output",
        "mixture export hist_run --out linked_out",
    ),
    ("prepare: a stray file named like a chunk record", PREPARE.format("stray_out") + "prose_docs"),
    ("prepare: an empty chunk record", PREPARE.format("empty_out") + "prose_docs"),
    ("prepare: a shard emptied after prepare", PREPARE.format("shard_out") + "prose_docs"),
    ("prepare: a dangling link among the documents", PREPARE.format("link_out") + "link_docs"),
    ("prepare: a folder named *.txt among the documents", PREPARE.format("dir_out") + "dir_docs"),
    (
        "prepare: a link (to /dev/full) planted at a shard's temporary name",
        PREPARE.format("full_out") + "prose_docs",
    ),
    (
        "prepare: a tokenizer whose regex does not compile",
        "prepare tok_out --tokenizer unclosed_regex_tokenizer.json --domain prose=prose_docs",
    ),
    (
        "prepare: a tokenizer whose regex backtracks without bound",
        "prepare tok_out --tokenizer runaway_regex_tokenizer.json --domain prose=prose_docs",
    ),
    (
        "prepare: a tokenizer whose regex backtracks without bound on one document",
        "prepare tok_out --tokenizer x_runaway_tokenizer.json --domain x=x_docs --no-progress",
    ),
    (
        "prepare: --bin ids beyond the tokenizer's vocabulary",
        "prepare bin_out --bin nano=nano --tokenizer ok_tokenizer.json",
    ),
    (
        "prepare: --bin of uint32 ids (read as uint16)",
        "prepare bin_out --bin nano=nano32 --tokenizer ok_tokenizer.json",
    ),
    (
        "prepare: --eos-token the padding token",
        PREPARE.format("eos_out") + "prose_docs --eos-token <pad>",
    ),
    (
        "prepare: --tokenizer and --bpe-vocab",
        PREPARE.format("both_out") + "prose_docs --tokenizer ok_tokenizer.json",
    ),
    (
        "train: a tokens corpus with ids beyond the vocabulary",
        f"train domains_cpu data.tokens.path=ids_corpus model.max_seq_len=16 {TINY}",
    ),
    (
        "train: a corpus manifest whose token counts were edited",
        f"train domains_cpu data.tokens.path=edited_corpus model.max_seq_len=16 {TINY}",
    ),
    (
        "train: a corpus manifest whose vocab_size was edited",
        f"train domains_cpu data.tokens.path=vocab_corpus model.max_seq_len=16 {TINY}",
    ),
    (
        "mixture export: megatron data in a folder whose path holds a space",
        "mixture export mega_run --format megatron --data mega_link --out mega_out",
    ),
    ("mixture export: a round that is not a number", "mixture export hist_round"),
    ("mixture export: weights all zero", "mixture export hist_zero"),
    ("mixture export: next_weights not a mapping", "mixture export hist_next --average updates"),
    ("graph plot: an entry past any float", "graph plot huge_graph.json"),
    ("compare: a run whose config's seed is a list", "compare seed_run seed_ok_run"),
    (
        "corpus export: a manifest domain leading out of OUT",
        "corpus export escape_corpus engine_out --format nanotron",
    ),
    (
        "corpus export: a manifest nested past the recursion limit",
        "corpus export deep_corpus engine_out --format nanotron",
    ),
    ("train: run.lock that is a folder", f"train lego run_dir=lock_run {TINY}"),
    ("train: a mapping for a list key", "train lego optim.betas={a:1}"),
    ("train: a learning rate past any float", f"train lego optim.lr=1{'0' * 400}"),
    ("train: a negative validation seed", "train lego data.lego.val_seed=-1"),
]


PWNED = "code-from-a-checkpoint-ran"


class RunsCode:
    """Unpickling this runs a shell command: what a hostile .ckpt can do."""

    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


def make_checkpoint_cases(exe: str, folder: Path) -> None:
    """evil.ckpt and a run holding it, a run whose checkpoint is a plain torch file, and a run
    whose config.yaml is edited after its first round."""
    import torch

    torch.save({"state_dict": {"network.w": RunsCode()}, "global_step": 1}, folder / "evil.ckpt")
    tiny = f"{TINY} trainer.threads=1 logger.csv=false mixing.plots=false"
    subprocess.run(
        [exe, "train", "lego", *tiny.split(), "run_dir=edited_run"],
        cwd=folder,
        capture_output=True,
        check=True,
        timeout=300,
    )
    for name, content in (("evil_run", RunsCode()), ("plain_run", {"weights": [1.0]})):
        (folder / name / "checkpoints").mkdir(parents=True)
        (folder / name / "config.yaml").write_text(
            (folder / "edited_run" / "config.yaml").read_text()
        )
        torch.save(
            {"state_dict": {}, "x": content} if name == "evil_run" else content,
            folder / name / "checkpoints" / "last.ckpt",
        )
    (folder / "edited_run" / "final_eval.json").unlink()
    config = folder / "edited_run" / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.001", "lr: 0.01"))


def make_corpus_cases(exe: str, folder: Path) -> None:
    """shard_out: a corpus with a shard emptied after prepare; mega_run: a run on a corpus whose
    Megatron export lies in `mega data` (reached through the link mega_link)."""

    def skillit(*args: str) -> None:
        subprocess.run([exe, *args], cwd=folder, capture_output=True, check=True, timeout=300)

    skillit(*(PREPARE.format("shard_out") + "prose_docs").split())
    (folder / "shard_out" / "prose" / "train_00000.bin").write_bytes(b"")
    skillit(*(PREPARE.format("mega_corpus") + "prose_docs --val-every 2").split())
    tiny = f"{TINY} trainer.threads=1 logger.csv=false mixing.plots=false model.max_seq_len=8"
    skillit(
        "train", "domains_cpu", "data.tokens.path=mega_corpus", *tiny.split(), "run_dir=mega_run"
    )
    skillit("corpus", "export", "mega_corpus", "mega data", "--format", "megatron")
    (folder / "mega_link").symlink_to(folder / "mega data")


def run_case(exe: str, line: str, cwd: Path) -> tuple[int, str, bool]:
    proc = subprocess.run(
        [exe, *line.split()], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    err = proc.stderr.strip().splitlines()
    traceback = "Traceback (most recent call last)" in proc.stderr
    message = next(
        (x for x in reversed(err) if "error:" in x or "warning:" in x or "Warning" in x),
        next((x for x in err if x.startswith("skillit")), err[-1] if err else ""),
    )
    return proc.returncode, message.strip(), traceback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("skillit"))
    rows, bad = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, text in FILES.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        for name, data in BINARY.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        for name, target in LINKS.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).symlink_to(folder / target)
        make_checkpoint_cases(exe, folder)
        make_corpus_cases(exe, folder)
        for i, (what, line) in enumerate(CASES, 1):
            code, message, traceback = run_case(exe, line, folder)
            # an error (exit 2), or a run that goes on with a warning or a note saying why
            ok = not traceback and (code != 0 or message.startswith("skillit"))
            bad += not ok
            rows.append(
                f"| {i} | {what} | `skillit {line[:70]}` | {code} | {'TRACEBACK ' if traceback else ''}{message[:180].replace('|', '/')} |"
            )
            print(rows[-1], flush=True)
        if (folder / PWNED).exists():
            bad += 1
            print(f"a crafted checkpoint ran code: {PWNED} was created", flush=True)
    table = "| # | input | command | exit | message |\n|---|---|---|---|---|\n" + "\n".join(rows)
    if args.out:
        Path(args.out).write_text(table + "\n")
    print(f"\n{len(CASES)} cases, {bad} without a clear message")


if __name__ == "__main__":
    main()
