"""Agents on the LLM gateway: TaskAgent, MetaAgent, their tools and prompt files."""

from hyperfunc_core.agents.agent import AgentOptions, AgentRun, MetaAgent, TaskAgent
from hyperfunc_core.agents.prompts import render, scaffold_prompts
from hyperfunc_core.agents.tools import BashSession, FrameworkTools, Tool, WorkspaceEditor, get_framework_tools

__all__ = [
    "AgentOptions",
    "AgentRun",
    "BashSession",
    "FrameworkTools",
    "MetaAgent",
    "TaskAgent",
    "Tool",
    "WorkspaceEditor",
    "get_framework_tools",
    "render",
    "scaffold_prompts",
]
