"""Write three small skills as one JSONL file each, to follow docs/own-skills.md without data
of your own: `add` (a + b), `double` (2 x a) and `add_double` (2 x (a + b)), which needs both.

    python docs/examples/my_skills.py my_skills        # my_skills/{add,double,add_double}.jsonl

Numbers are written digit by digit ("4 7" is 47) so that the whitespace tokenizer sees digits.
"""

import json
import random
import sys
from pathlib import Path


def digits(n: int) -> str:
    return " ".join(str(n))


def sample(skill: str, rng: random.Random) -> dict:
    a, b = rng.randrange(100), rng.randrange(100)
    if skill == "add":
        return {"prompt": f"{digits(a)} + {digits(b)} =", "answer": digits(a + b)}
    if skill == "double":
        return {"prompt": f"double {digits(a)} =", "answer": digits(2 * a)}
    return {"prompt": f"double ( {digits(a)} + {digits(b)} ) =", "answer": digits(2 * (a + b))}


def main(out: Path, lines: int = 400, seed: int = 0) -> None:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    for skill in ("add", "double", "add_double"):
        rows = (json.dumps(sample(skill, rng)) for _ in range(lines))
        (out / f"{skill}.jsonl").write_text("\n".join(rows) + "\n")
    print(f"wrote {lines} lines per skill to {out}/")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python docs/examples/my_skills.py OUT_DIR [LINES_PER_SKILL]")
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) == 3 else 400)
