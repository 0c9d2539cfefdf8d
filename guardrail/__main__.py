"""``python -m guardrail``: the same command line as the ``guardrail`` script."""

from guardrail.cli import main

if __name__ == "__main__":
    main()
