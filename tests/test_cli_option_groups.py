"""train, search and evaluate share option groups, each declared once and received as one object."""

import dataclasses

import click
import pytest
from click.testing import CliRunner

from fer_toolkit.cli._common import option_group
from fer_toolkit.cli._data import DataOptions
from fer_toolkit.cli._transfer import ModelOptions
from fer_toolkit.cli.evaluate import evaluate
from fer_toolkit.cli.search import search
from fer_toolkit.cli.train import train

COMMANDS = {"train": train, "search": search, "evaluate": evaluate}

GROUPS = {"data_opts": DataOptions, "model_opts": ModelOptions}
USERS = {"train": GROUPS, "search": GROUPS, "evaluate": {"data_opts": DataOptions}}


def _params(command):
    return {param.name: param for param in COMMANDS[command].params}


@pytest.mark.parametrize("command", USERS)
def test_each_group_is_one_run_of_options_in_field_order(command):
    names = [param.name for param in COMMANDS[command].params]
    for group in USERS[command].values():
        fields = [field.name for field in dataclasses.fields(group)]
        start = names.index(fields[0])
        assert names[start : start + len(fields)] == fields


@pytest.mark.parametrize("group", GROUPS.values(), ids=list(GROUPS))
def test_train_and_search_declare_the_same_options(group):
    train, search = _params("train"), _params("search")
    for field in dataclasses.fields(group):
        a, b = train[field.name], search[field.name]
        assert a is not b  # one Option object per command, from one declaration
        assert (a.opts, a.secondary_opts, a.help, a.default, a.required) == (
            b.opts,
            b.secondary_opts,
            b.help,
            b.default,
            b.required,
        )


def test_option_group_passes_one_dataclass():
    @dataclasses.dataclass
    class Pair:
        first: int
        second: str

    @click.command()
    @click.option("--before", type=int, default=0)
    @option_group(
        "pair", Pair, [click.option("--first", type=int), click.option("--second", default="b")]
    )
    @click.option("--after", default="z")
    def command(before, pair, after):
        click.echo(f"{before} {pair} {after}")

    result = CliRunner().invoke(command, ["--first", "2", "--after", "y"])
    assert result.output.endswith("Pair(first=2, second='b') y\n")
    assert result.output.startswith("0 ")
    assert [p.name for p in command.params] == ["before", "first", "second", "after"]
