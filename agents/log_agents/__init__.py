"""The three log agents (business, k8s event, k8s audit) and the correlation between them.

Each agent is fed ``observe(record, template_id)`` once per record (streaming) and returns an `AgentResult`
from ``finish(miner, known_workloads, …)``: findings, template rows for the index, timeline entries and
per-workload signals the audit agent uses to link changes to the errors that followed.
"""

from agents.log_agents.audit import AuditAgent
from agents.log_agents.business import BusinessAgent
from agents.log_agents.common import AgentResult, DayClock, TemplateHistory, TemplateStats, hourly_spikes
from agents.log_agents.correlate import Change, correlate_changes
from agents.log_agents.event import EventAgent, classify

__all__ = [
    "AgentResult",
    "AuditAgent",
    "BusinessAgent",
    "Change",
    "DayClock",
    "EventAgent",
    "TemplateHistory",
    "TemplateStats",
    "classify",
    "correlate_changes",
    "hourly_spikes",
]
