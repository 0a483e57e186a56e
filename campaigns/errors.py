"""The one base of every error campaigns raise on purpose, so that a caller (an admin view, the API, a task) can
catch what campaigns refuse without catching programming errors. Each job's module subclasses it with what went
wrong: a send in the wrong state, a forged SNS message, an unknown tracked link."""


class CampaignError(Exception):
    """A campaign action was refused, or input about campaigns was not believed; the message says why."""
