"""The guardrail policy language: grammar, parser, checker, evaluator and formatter.

Quick use::

    from guardrail.policy import load_policies, Action
    policies = load_policies("policies/")
    decision = policies["medical"].evaluate({"consistency": 0.55, "verbalized": 0.95, "hedges": 0})
    decision.action >= Action.REVIEW

The language is documented in ``docs/policy-language.md``.
"""

from guardrail.policy.ast import PolicyAST, Span, ast_equal
from guardrail.policy.catalog import ACTIONS, CONTEXT_NAMES, SIGNALS, Action, SignalSpec
from guardrail.policy.decision import MISSING_NOTICE, Decision, RuleMatch, SignalValue
from guardrail.policy.errors import Diagnostic, PolicyError
from guardrail.policy.loader import (
    check_text,
    load_policies,
    load_policy,
    parse_policy,
    policy_files,
)
from guardrail.policy.model import (
    EnsembleConfig,
    ExampleDef,
    ExampleResult,
    HedgesConfig,
    OtherwiseDef,
    Policy,
    RuleDef,
    SamplesConfig,
    SignalConfig,
    VerbalizedConfig,
)
from guardrail.policy.parser import parse_ast

__all__ = [
    "ACTIONS",
    "CONTEXT_NAMES",
    "MISSING_NOTICE",
    "SIGNALS",
    "Action",
    "Decision",
    "Diagnostic",
    "EnsembleConfig",
    "ExampleDef",
    "ExampleResult",
    "HedgesConfig",
    "OtherwiseDef",
    "Policy",
    "PolicyAST",
    "PolicyError",
    "RuleDef",
    "RuleMatch",
    "SamplesConfig",
    "SignalConfig",
    "SignalSpec",
    "SignalValue",
    "Span",
    "VerbalizedConfig",
    "ast_equal",
    "check_text",
    "load_policies",
    "load_policy",
    "parse_ast",
    "parse_policy",
    "policy_files",
]
