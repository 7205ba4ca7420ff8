"""Secrets given on a command line or as parameters are not kept in run records, which
travel with a push to every workspace that pulls the outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import assay
from assay.data import add_remote, push
from assay.lineage import run_command
from assay.lineage._redact import REDACTED, redact_command, redact_params, redact_text, secret_name
from assay.workspace import Workspace


def test_secret_names_and_look_alikes() -> None:
    for name in ("--password", "--api-key", "--hf-token", "-apikey", "AWS_SECRET_ACCESS_KEY", "db.password",
                 "--client-secret", "GITHUB_TOKEN", "private_key", "--auth", "wandb_api_key", "--passphrase"):
        assert secret_name(name), name
    for name in ("--tokenizer", "--key", "--max-tokens", "--token-file", "--password-length", "--no-auth",
                 "--keyword", "--secretary", "--lr", "--auth-url", "monkey", "--access-key-id", "-p"):
        assert not secret_name(name), name


def test_a_command_line_keeps_everything_but_the_secret_values() -> None:
    command = ["python", "train.py", "--api-key", "sk-123", "--password=hunter2", "--tokenizer", "bert",
               "--key", "customer_id", "HF_TOKEN=hf_abc", "DB=postgresql://me:pw@db:5432/x", "--lr", "0.1",
               "--hf-token", "--verbose", "s3://AKIA:sekret@host/bucket", "--token-file", "t.txt", "--",
               "--secret", "s"]
    assert redact_command(command) == [
        "python", "train.py", "--api-key", REDACTED, f"--password={REDACTED}", "--tokenizer", "bert",
        "--key", "customer_id", f"HF_TOKEN={REDACTED}", f"DB=postgresql://me:{REDACTED}@db:5432/x", "--lr", "0.1",
        "--hf-token", "--verbose", f"s3://AKIA:{REDACTED}@host/bucket", "--token-file", "t.txt", "--",
        "--secret", REDACTED]
    assert redact_command(["ls", "-la", "http://host/path@x"]) == ["ls", "-la", "http://host/path@x"]


def test_parameters_at_any_depth() -> None:
    params = {"lr": 0.1, "db": {"password": "x", "url": "postgresql://u:pw@h/db", "port": 5432},
              "tokenizer": "bert", "api_key": None, "layers": [{"token": "t"}, 3], "n": (1, 2)}
    assert redact_params(params) == {"lr": 0.1, "db": {"password": REDACTED, "url": f"postgresql://u:{REDACTED}@h/db",
                                                      "port": 5432},
                                     "tokenizer": "bert", "api_key": None, "layers": [{"token": REDACTED}, 3],
                                     "n": [1, 2]}


def test_a_run_record_and_its_pushed_copy_hold_no_secret(ws: Workspace, tmp_path: Path) -> None:
    script = "import pathlib, sys; pathlib.Path('out').mkdir(exist_ok=True); pathlib.Path('out/k').write_text(sys.argv[2])"
    run = run_command(ws, [sys.executable, "-c", script, "--api-key", "sk-live-123"], outputs={"o": "out"},
                      cwd=ws.root)
    assert (ws.root / "out" / "k").read_text() == "sk-live-123"  # the command itself got the real value
    with assay.track(ws, params={"lr": 0.1, "wandb_api_key": "wb-456"}) as tracked:
        (ws.root / "m").mkdir()
        (ws.root / "m" / "w").write_text("weights")
        tracked.output("m", ws.root / "m")
    rows = {r[0]: (json.loads(r[1]), json.loads(r[2])) for r in ws.ledger.query("SELECT id, command, params FROM runs")}
    assert rows[run.id][0][-2:] == ["--api-key", REDACTED]
    assert rows[tracked.id][1] == {"lr": 0.1, "wandb_api_key": REDACTED}
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    sent = "".join(p.read_text() for p in (tmp_path / "remote" / "runs").glob("*.json"))
    assert "sk-live-123" not in sent and "wb-456" not in sent and REDACTED in sent
    ledger_bytes = b"".join(p.read_bytes() for p in ws.dir.glob("ledger.db*"))
    assert b"sk-live-123" not in ledger_bytes and b"wb-456" not in ledger_bytes


def test_secrets_a_first_cut_missed() -> None:
    assert secret_name("PGPASSWORD") and secret_name("REDIS_PASS") and secret_name("--pass")
    assert secret_name("--accessToken") and secret_name("--clientSecret") and secret_name("AccountKey")
    assert redact_command(["bash", "-c", "python train.py --api-key sk-123 --password hunter2 | tee log"]) == [
        "bash", "-c", f"python train.py --api-key {REDACTED} --password {REDACTED} | tee log"]
    assert redact_command(["curl", "-H", "Authorization: Bearer abc.def", "https://h/x?access_token=t0k&a=1&sig=s1g"]) == [
        "curl", "-H", f"Authorization: {REDACTED}", f"https://h/x?access_token={REDACTED}&a=1&sig={REDACTED}"]
    assert redact_command(["az", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=SECRET==;Suffix=x"]) == [
        "az", f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={REDACTED};Suffix=x"]
    assert redact_command(["psql", "Server=db;Database=d;User Id=u;Password=p4ss;"]) == [
        "psql", f"Server=db;Database=d;User Id=u;Password={REDACTED};"]
    assert redact_command(["x", "https://user:p@ss@host/db"]) == ["x", f"https://user:{REDACTED}@host/db"]


def test_ordinary_arguments_a_first_cut_hid() -> None:
    command = ["python", "t.py", "--pad-token", "<pad>", "--eos-token", "</s>", "--use-auth-token", "data/train.csv",
               "--auth-mode", "oauth", "--max-tokens", "12"]
    assert redact_command(command) == command
    assert redact_params({"eos_token": "</s>", "pad_token": "<pad>", "cls_token": "[CLS]"}) == {
        "eos_token": "</s>", "pad_token": "<pad>", "cls_token": "[CLS]"}


def test_parameters_of_other_kinds() -> None:
    import argparse
    import dataclasses
    from types import MappingProxyType

    @dataclasses.dataclass
    class Cfg:
        lr: float
        api_key: str

    class Opaque:
        def __repr__(self) -> str:
            return "Opaque(password='hunter2', depth=3)"

    got = redact_params({"a": MappingProxyType({"password": "hunter2", "n": 1}), "b": Cfg(0.1, "sk-1"),
                         "c": argparse.Namespace(token="t", epochs=2), "d": Opaque()})
    assert got == {"a": {"password": REDACTED, "n": 1}, "b": {"lr": 0.1, "api_key": REDACTED},
                   "c": {"token": REDACTED, "epochs": 2}, "d": f"Opaque(password='{REDACTED}', depth=3)"}
    assert "hunter2" not in str(got) and "sk-1" not in str(got)


def test_user_passwords_and_programs_own_password_options() -> None:
    assert redact_command(["curl", "-u", "admin:Hunter2", "--user", "bob:Hunter3", "https://api.example/x"]) == [
        "curl", "-u", f"admin:{REDACTED}", "--user", f"bob:{REDACTED}", "https://api.example/x"]
    assert redact_command(["curl", "-uadmin:pw", "--user=bob:pw2"]) == ["curl", f"-uadmin:{REDACTED}", f"--user=bob:{REDACTED}"]
    assert redact_command(["mysql", "-u", "root", "-pHunter4", "db"]) == ["mysql", "-u", "root", f"-p{REDACTED}", "db"]
    assert redact_command(["/usr/bin/mysqldump", "-uroot", "-pS3cret", "db"]) == [
        "/usr/bin/mysqldump", "-uroot", f"-p{REDACTED}", "db"]
    assert redact_command(["mariadb", "-p", "db"]) == ["mariadb", "-p", "db"]  # -p alone asks for it
    assert redact_command(["sshpass", "-p", "Hunter5", "ssh", "-p", "22", "h"]) == [
        "sshpass", "-p", REDACTED, "ssh", "-p", "22", "h"]
    assert redact_command(["sshpass", "-pHunter5", "scp", "-P", "22", "a", "h:b"]) == [
        "sshpass", f"-p{REDACTED}", "scp", "-P", "22", "a", "h:b"]
    # Several programs in one script, and as arguments of another (the trial's command line).
    assert redact_command(["bash", "-c", "curl -u admin:pw https://x && mysql -ppw db"]) == [
        "bash", "-c", f"curl -u admin:{REDACTED} https://x && mysql -p{REDACTED} db"]
    got = redact_command(["sh", "-c", "mkdir -p o", "x", "curl", "-u", "admin:Hunter2", "--user", "bob:Hunter3",
                          "https://api.example/x", "mysql", "-pHunter4", "sshpass", "-p", "Hunter5", "ssh", "h"])
    assert not any("Hunter" in word for word in got) and "admin:***" in got and "bob:***" in got


def test_look_alikes_of_user_and_password_options_are_left() -> None:
    for command in (["ssh", "-p", "22", "host"], ["mkdir", "-p", "a/b"], ["pip", "install", "-U", "x"],
                    ["python", "-u", "train.py"], ["git", "push", "-u", "origin", "main"], ["sort", "-u", "f"],
                    ["docker", "run", "-u", "1000:1000", "img"], ["docker", "run", "--user", "app:app", "img"],
                    ["podman", "run", "-u", "0:0", "img"], ["sudo", "-u", "postgres", "psql", "-p", "5432"],
                    ["tar", "-uf", "a.tar", "b"], ["psql", "-p", "5432", "-U", "me:x"], ["scp", "-P", "22", "a", "h:b"],
                    ["mysql", "-u", "root", "db;", "ssh", "-p22", "h"], ["tool", "-url=https://host/x"]):
        assert redact_command(command) == command, command
    assert redact_command(["docker", "run", "img", "curl", "-u", "a:b"])[-1] == f"a:{REDACTED}"
    assert redact_command(["tool", "-url=https://u:pw@host/x"]) == ["tool", f"-url=https://u:{REDACTED}@host/x"]


def test_text_after_a_secret_value_is_kept() -> None:
    assert redact_text("access_token=S1: x") == f"access_token={REDACTED}: x"
    assert redact_text("failed with password=hunter2.") == f"failed with password={REDACTED}."
    assert redact_text("token=a:b:c, then") == f"token={REDACTED}, then"  # a colon inside the value is the value's
    assert redact_text('password="ab:c" x') == f'password="{REDACTED}" x'
    assert redact_text("password=::: x") == f"password={REDACTED} x"


def test_a_slice_label_on_a_secret_named_column_is_hidden_as_written() -> None:
    # A label such as `token = abc` (a slice on a column named token) cannot be told from a
    # secret given so; a shared check hides its value, and keeps the label's spacing.
    from assay.checks import shareable_check

    assert redact_text("token = abc") == f"token = {REDACTED}"
    shared = shareable_check({"slices": [{"slice": "token = abc", "metric": "accuracy"}, {"slice": "lang = de"}]})
    assert shared["slices"] == [{"slice": f"token = {REDACTED}", "metric": "accuracy"}, {"slice": "lang = de"}]


# Secrets known by their form, named or not (made up: the form of each issuer's tokens).
TOKENS = {
    "aws": "AKIAIOSFODNN7EXAMPLE", "aws session": "ASIAY34FZKBOKMUTVV7A",
    "hugging face": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
    "openai": "sk-ABCDEFGHIJKLMNOPQRSTUVWXyz0123456789abcdefghijkl",
    "openai project": "sk-proj-Ab3dEf9hIjKlMnOp_QrStUvWxYz0123456789-abcdEFGH",
    "anthropic": "sk-ant-api03-Ab3dEf9hIjKlMnOpQrStUvWxYz0123456789abcdEFGH-xyzAA",
    "github": "ghp_abcdefghijklmnopqrstuvwxyzABCDEF0123", "github oauth": "gho_abcdefghijklmnopqrstuvwxyzABCDEF0123",
    "github fine-grained": "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab",
    "slack": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    # keys whose random part is hex or one case only (they leaked: no upper and lower case mix)
    "openrouter": "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "deepseek": "sk-0123456789abcdef0123456789abcdef",
    "anthropic lower": "sk-ant-api03-abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz-abcdefghijkl_AA",
    "pypi": "pypi-AgEIcHlwaS5vcmcCJGE4ZjYyYzZiLTk3NzQtNGQ3Mi1iZTU2LTI1ZGE5Y2JmOTY2MwACKlszLCJmNTg",
    "gitlab": "glpat-xYz12AbC34dEf56GhI78jK", "google": "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "stripe": "sk_live_51H8abcdEFGHijklMNOPqrstUVWXyz0123456789", "npm": "npm_abcdefghijklmnopqrstuvwxyz0123456789",
}
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq98Xq\nQ2xvdWQ=\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_a_secret_known_by_its_form_is_hidden_wherever_it_stands(kind: str) -> None:
    token = TOKENS[kind]
    assert redact_text(f"request failed (403) with {token}: retry later") == \
        f"request failed (403) with {REDACTED}: retry later"
    assert redact_text(f"'{token}'") == f"'{REDACTED}'" and redact_text(f"--key={token},") == f"--key={REDACTED},"
    assert redact_command(["python", "t.py", token, "--key", token, "--login", f"id:{token}"]) == [
        "python", "t.py", REDACTED, "--key", REDACTED, "--login", f"id:{REDACTED}"]
    assert redact_command(["sh", "-c", f"deploy --as {token} && echo done"]) == [
        "sh", "-c", f"deploy --as {REDACTED} && echo done"]


def test_a_private_key_and_a_url_password_are_hidden_wherever_they_stand() -> None:
    assert redact_text(f"bad key:\n{PEM}\nend") == \
        f"bad key:\n-----BEGIN RSA PRIVATE KEY-----{REDACTED}-----END RSA PRIVATE KEY-----\nend"
    cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"  # cut before its END
    assert "b3Blbn" not in redact_text(cut)
    got = redact_command(["sh", "-c", f"printf '%s' '{PEM}' > id_rsa && ssh -i id_rsa h", "--in", PEM])
    assert "MIIE" not in str(got) and got[-2:] == [
        "--in", f"-----BEGIN RSA PRIVATE KEY-----{REDACTED}-----END RSA PRIVATE KEY-----"]
    assert redact_text("cloning https://bob:hunter2@git.example/x.git failed") == \
        f"cloning https://bob:{REDACTED}@git.example/x.git failed"


def test_ordinary_text_is_not_taken_for_a_secret_by_its_form() -> None:
    blake3 = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    for text in (blake3, f"features@{blake3[:12]}", "pip install scikit-learn sk-learn",
                 "sk-experiment-results-of-the-2024-sweep", "sk-Results-2024-final-run-of-the-sweep",
                 "from huggingface_hub import hf_hub_download", "hf_transfer_enabled_for_large_files",
                 "/home/me/data/AKIA_notes.txt", "AKIA", "ghp_short", "xoxb", "eyJ0eXAi only",
                 "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----",
                 "s3://bucket/models/bert-base-uncased/pytorch_model.bin", "git@github.com:org/repo.git",
                 "model.layers.0.self_attn.q_proj.weight", "ASIA-Pacific", "dataset raw@v3 (sha256 0a1b2c)",
                 # a run's or model's name that starts with sk- (was taken for a key)
                 "sk-Qwen2VL7BInstructFT2024", "ckpt/sk-Llama3Instruct8B-lora16/step-2000",
                 "pypi-upload-2024", "npm_modules_cache", "glpat-", "AIzaWord"):
        assert redact_text(text) == text, text
        assert redact_command(["python", "t.py", text]) == ["python", "t.py", text], text


def test_a_run_records_no_secret_known_by_its_form(ws: Workspace, tmp_path: Path) -> None:
    # Its command line, why it failed (an exception's message, a command that cannot be run)
    # and its environment (the interpreter's path) are all kept in the record a push sends.
    token, key = TOKENS["hugging face"], TOKENS["aws"]
    run = run_command(ws, ["true", token, f"AWS={key}"])
    with pytest.raises(RuntimeError), assay.track(ws) as tracked:
        raise RuntimeError(f"upload refused for {token}; key was\n{PEM}\n(check {key})")
    with pytest.raises(Exception, match="command not found"):
        run_command(ws, [f"./{TOKENS['github']}", "x"])
    bin_dir = tmp_path / TOKENS["slack"] / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "python").chmod(0o755)
    probed = run_command(ws, [str(bin_dir / "python"), "-c", "pass"])
    rows = {r[0]: (json.loads(r[1]), json.loads(r[2])) for r in ws.ledger.query("SELECT id, command, env FROM runs")}
    assert rows[run.id][0] == ["true", REDACTED, f"AWS={REDACTED}"]
    failure = rows[tracked.id][1]["failure"]
    assert failure.startswith("RuntimeError: upload refused for ***; key was -----BEGIN RSA PRIVATE KEY-----***")
    assert tracked.failure == failure
    assert REDACTED in rows[probed.id][1]["python_executable"]
    everything = json.dumps(rows) + "".join(
        json.dumps(r) for r in ws.ledger.query("SELECT command, params, env FROM runs"))
    for secret in (token, key, TOKENS["github"], TOKENS["slack"], "MIIE"):
        assert secret not in everything, secret
