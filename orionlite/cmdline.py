"""The user's command line: fixed arguments, prior markers, and the argv of each trial.

In ``hunt -n exp -- python train.py --lr~'loguniform(1e-5, 1)' --out {trial.working_dir}``
everything after ``--`` is the user's. An argument ``--name~PRIOR`` or ``-x~PRIOR`` defines a
dimension and is replaced per trial by its value; the others pass through, with only the
known ``{trial.*}`` and ``{exp.*}`` templates expanded, so JSON arguments and other braces
survive. The template is stored with the experiment as the original argv, so any worker
rebuilds exactly the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from orionlite.errors import CommandError, PriorError, SpaceError
from orionlite.space import Space, parse_prior

TEMPLATE_NAMES = (
    "trial.id",
    "trial.working_dir",
    "trial.hash_params",
    "exp.name",
    "exp.version",
    "exp.working_dir",
)
"""The keys ``render`` expects in its context, written ``{trial.id}`` in an argument."""

_EXAMPLE = "hunt -n exp -- python train.py --lr~'loguniform(1e-5, 1)' --epochs 10"
# A dimension: one or two dashes, a name (dots and dashes allowed, as in --model.layers),
# a tilde, then the prior text (which parse_prior checks, so an empty one is an error).
_PRIOR_ARG = re.compile(r"(?P<flag>--?(?P<name>[A-Za-z_][\w.\-]*))~(?P<prior>.*)", re.DOTALL)
# A prior standing alone is almost always "--lr ~'uniform(0, 1)'" with a stray space.
# Only prior calls are matched, so that a literal "~/data" still passes through.
_STRAY_PRIOR = re.compile(r"~\s*(uniform|loguniform|normal|choices|fidelity)\s*\(")
_TEMPLATE = re.compile(r"\{(" + "|".join(re.escape(name) for name in TEMPLATE_NAMES) + r")\}")


class PriorMarker(NamedTuple):
    """Where a dimension's value goes: ``flag`` as written (``--lr``, ``-x``) and its name."""

    flag: str
    name: str


def format_value(value: Any) -> str:
    """Write a value so that the user's script parses it back to the same value.

    ``str`` does it: for floats it is the shortest text that round-trips (``1e-05``), also
    for numpy floats, whose ``repr`` would be ``np.float64(1e-05)``; ints stay ints,
    booleans are ``True``/``False``, strings are left as they are.
    """
    return str(value)


@dataclass(frozen=True)
class CommandTemplate:
    """A parsed command line; build it with :func:`parse_command` or :meth:`from_json`."""

    argv: tuple[str, ...]
    parts: tuple[str | PriorMarker, ...]
    priors: dict[str, str] = field(hash=False)
    """Dimension name -> the prior text as the user wrote it, in command-line order."""

    def space(self) -> Space:
        """The search space the command defines; SpaceError if it defines none."""
        if not self.priors:
            raise SpaceError(
                "The command defines no dimension: no argument has the form --name~PRIOR.",
                hint="Mark a hyperparameter with ~ and a prior, e.g. --lr~'loguniform(1e-5, 1)'",
            )
        return Space.from_priors(self.priors)

    def render(self, params: Mapping[str, Any], context: Mapping[str, str]) -> list[str]:
        """The argv of one trial.

        A long flag becomes one item ``--lr=VALUE`` (so a negative value is never taken for
        a flag); a short one becomes two, ``-x VALUE``, as short options have no ``=``
        form in most parsers. Parameters the command does not mention are ignored: they
        may belong to a config file.
        """
        argv: list[str] = []
        for part in self.parts:
            if isinstance(part, PriorMarker):
                if part.name not in params:
                    raise CommandError(f"No value for dimension {part.name!r} of the command.")
                value = format_value(params[part.name])
                long_flag = part.flag.startswith("--")
                argv.extend([f"{part.flag}={value}"] if long_flag else [part.flag, value])
            else:
                argv.append(_expand(part, context))
        return argv

    def to_json(self) -> list[str]:
        """The original argv: re-parsing it is simpler and safer than storing parts."""
        return list(self.argv)

    @classmethod
    def from_json(cls, data: Any) -> CommandTemplate:
        if not isinstance(data, list) or not all(isinstance(arg, str) for arg in data):
            raise CommandError(f"Stored command {data!r} is not a list of strings.")
        return parse_command(data)


def _expand(argument: str, context: Mapping[str, str]) -> str:
    """Replace the known templates only: str.format would choke on ``{"a": 1}``."""

    def value(match: re.Match[str]) -> str:
        if match[1] not in context:
            raise CommandError(f"No value for template {match[0]} in argument {argument!r}.")
        return str(context[match[1]])

    return _TEMPLATE.sub(value, argument)


def parse_command(argv: Sequence[str]) -> CommandTemplate:
    """Split the argv after ``--`` into pass-through arguments and prior markers.

    Raises CommandError for an empty command, a prior in place of the program, a prior
    separated from its flag, or a dimension defined twice; PriorError, quoting the
    argument, for a bad prior.
    """
    args = tuple(argv)
    if not args:
        raise CommandError("No command given after --.", hint=f"Example: {_EXAMPLE}")
    parts: list[str | PriorMarker] = []
    priors: dict[str, str] = {}
    arguments: dict[str, str] = {}
    for index, arg in enumerate(args):
        match = _PRIOR_ARG.fullmatch(arg)
        if match is None:
            if _STRAY_PRIOR.match(arg):
                flag = args[index - 1] if index and args[index - 1].startswith("-") else "--name"
                raise CommandError(
                    f"Argument {arg!r} starts with '~': a prior must be joined to its flag.",
                    hint=f"Write it as one argument, without a space: {flag}~'{arg[1:]}'",
                )
            parts.append(arg)
            continue
        if index == 0:
            raise CommandError(
                f"The command starts with the prior {arg!r}; the program to run comes first.",
                hint=f"Example: {_EXAMPLE}",
            )
        name, prior = match["name"], match["prior"]
        if len(prior) > 1 and prior[0] == prior[-1] and prior[0] in "'\"":
            prior = prior[1:-1]  # quotes the shell would have removed (argv built in Python)
        if name in priors:
            raise CommandError(
                f"Dimension {name!r} is defined twice: {arguments[name]!r} and {arg!r}.",
                hint="Give each dimension one prior, or rename one of them",
            )
        try:
            parse_prior(prior)
        except PriorError as exc:
            raise PriorError(f"Argument {arg!r}: {exc.message}", hint=exc.hint) from None
        priors[name], arguments[name] = prior, arg
        parts.append(PriorMarker(match["flag"], name))
    return CommandTemplate(args, tuple(parts), priors)
