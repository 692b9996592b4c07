#!/usr/bin/env bash
# The package as an operator installs it (issue 13): build the wheel from a clean copy of the tree,
# install it (not editable) into a fresh venv, and run `hotline screen`, `hotline demo` and `hotline run`
# from an empty folder, then again with HOTLINE_CONFIG's folder overriding the built-in lexicon.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$work" --one-top-level=src
"$PY" -m pip wheel --quiet --no-deps -w "$work/dist" "$work/src" > "$work/wheel.log" 2>&1 \
  || { cat "$work/wheel.log" >&2; exit 1; }
wheel=$(ls "$work"/dist/hotline-*.whl)
unzip -l "$wheel" > "$work/listing"; grep -q 'hotline/defaults/crisis_lexicon.toml' "$work/listing" || { echo "wheel lacks hotline/defaults" >&2; exit 1; }

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel" > "$work/pip.log" 2>&1 \
  || { cat "$work/pip.log" >&2; exit 1; }
hotline="$work/venv/bin/hotline"
mkdir "$work/empty"
cd "$work/empty"
env_clean=(env -u HOTLINE_CONFIG -u HOTLINE_CONFIG_DIR -u PYTHONPATH LANG=C.UTF-8)

out=$(printf '今天好累喔\n我想自殺\n' | "${env_clean[@]}" "$hotline" screen)
echo "$out" | sed -n 1p | grep -q '"risk": *"none"' || { echo "screen (1): $out" >&2; exit 1; }
echo "$out" | sed -n 2p | grep -Eq '"risk": *"(elevated|imminent)"' || { echo "screen (2): $out" >&2; exit 1; }

"${env_clean[@]}" "$hotline" demo --fast > demo.out 2> demo.err || { cat demo.err >&2; exit 1; }
grep -q '示範結束' demo.out || { echo "demo did not finish" >&2; exit 1; }

set +e
"${env_clean[@]}" "$hotline" run > run.out 2> run.err
status=$?
set -e
[ "$status" -eq 2 ] && grep -q '@BotFather' run.err || { echo "run: $status $(cat run.err)" >&2; exit 1; }

mkdir site
printf '[crisis]\nack_timeout_seconds = 60\n' > site/hotline.toml
cat > site/crisis_lexicon.toml <<'TOML'
[[entry]]
id = "test.banana"
role = "intent"
patterns = ["香蕉"]
TOML
out=$(printf '香蕉\n' | "${env_clean[@]}" HOTLINE_CONFIG="$PWD/site/hotline.toml" "$hotline" screen 2>&1 || true)
echo "$out" | grep -q 'test.banana' || { echo "HOTLINE_CONFIG's folder did not override the lexicon: $out" >&2; exit 1; }
echo "wheel: $(basename "$wheel") installs and runs (screen, demo, run, config override)"
