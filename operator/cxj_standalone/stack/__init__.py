"""The simulated contact center that `cxj demo` and end-to-end tests run journeys against."""

from cxj_probe.voice.impairment import Impairment
from cxj_standalone.stack.stack import ContactCenterStack, Endpoint, StackPorts

__all__ = ["ContactCenterStack", "Endpoint", "Impairment", "StackPorts"]
