"""The sip step: SIP signalling checks (OPTIONS ping or a whole call) against a SIP server."""

from cxj_probe.steps.sip.client import run_sip

__all__ = ["run_sip"]
