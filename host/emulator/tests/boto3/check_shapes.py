"""AWS's own Python client against the emulator: every shape of the Converse surface the
emulator accepts and produces must pass botocore's request validation and response parsing.

Run by host/emulator/tests/boto3.rs with BEDROCK_URL and the emulator's credentials in the
environment. Prints one line per check and ends with "all shapes accepted".
"""

import json
import os
import struct
import sys

import boto3

MODEL = "us.anthropic.claude-sonnet-4-6"
client = boto3.client(
    "bedrock-runtime",
    endpoint_url=os.environ["BEDROCK_URL"],
    region_name=os.environ["AWS_REGION"],
)


def png(width, height):
    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
        + struct.pack(">II", width, height)
        + b"\x08\x06\x00\x00\x00"
    )


PDF = b"%PDF-1.7\n1 0 obj << /Type /Page >>\n%%EOF"
SYSTEM = [{"text": "You are careful and exact. " * 300}, {"cachePoint": {"type": "default"}}]
TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": "calculator",
                "description": "Evaluates arithmetic.",
                "inputSchema": {"json": {"type": "object", "properties": {"expression": {"type": "string"}}}},
                "strict": True,
            }
        },
        {"cachePoint": {"type": "default"}},
    ]
}


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


# Images, documents, cache points in system and tools.
user = {
    "role": "user",
    "content": [
        {"text": "What are these?"},
        {"image": {"format": "png", "source": {"bytes": png(640, 480)}}},
        {"document": {"format": "pdf", "name": "Spec (v2)", "source": {"bytes": PDF}}},
    ],
}
r = client.converse(modelId=MODEL, system=SYSTEM, messages=[user], toolConfig=TOOLS)
text = r["output"]["message"]["content"][0]["text"]
check("image and document described", "640" in text and "Spec (v2)" in text, text)
check("cache written", r["usage"].get("cacheWriteInputTokens", 0) > 0, r["usage"])
r = client.converse(modelId=MODEL, system=SYSTEM, messages=[user], toolConfig=TOOLS)
check("cache read", r["usage"].get("cacheReadInputTokens", 0) > 0, r["usage"])

# Extended thinking in a tool loop: the reasoning block goes back as it came.
thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
ask = {"role": "user", "content": [{"text": "What is 12 * 34?"}]}
r = client.converse(
    modelId=MODEL,
    messages=[ask],
    toolConfig=TOOLS,
    inferenceConfig={"maxTokens": 2048},
    additionalModelRequestFields=thinking,
)
content = r["output"]["message"]["content"]
reasoning = content[0]["reasoningContent"]["reasoningText"]
check("reasoning with a signature", reasoning["signature"] and reasoning["text"], content)
tool_use = next(b["toolUse"] for b in content if "toolUse" in b)
result = {
    "role": "user",
    "content": [{"toolResult": {"toolUseId": tool_use["toolUseId"], "content": [{"text": "408"}]}}],
}
r = client.converse(
    modelId=MODEL,
    messages=[ask, r["output"]["message"], result],
    toolConfig=TOOLS,
    inferenceConfig={"maxTokens": 2048},
    additionalModelRequestFields=thinking,
)
check("tool loop with reasoning", "408" in json.dumps(r["output"]), r["output"])

# Structured output, service tier, performance, metadata, response fields.
schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
r = client.converse(
    modelId=MODEL,
    messages=[{"role": "user", "content": [{"text": "Describe Tokyo"}]}],
    outputConfig={"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "city"}}}},
    serviceTier={"type": "priority"},
    performanceConfig={"latency": "optimized"},
    requestMetadata={"team": "agents"},
    additionalModelResponseFieldPaths=["/stop_reason"],
)
answer = json.loads(r["output"]["message"]["content"][0]["text"])
check("structured output", answer.get("city") == "Tokyo", answer)
check("service tier echoed", r.get("serviceTier", {}).get("type") == "priority", r.get("serviceTier"))
check("performance echoed", r.get("performanceConfig", {}).get("latency") == "optimized", r)
check("model fields", r.get("additionalModelResponseFields") == {"stop_reason": "end_turn"}, r)

# A guardrail that intervenes, with its trace.
r = client.converse(
    modelId=MODEL,
    messages=[{"role": "user", "content": [{"text": "the forbidden question"}]}],
    guardrailConfig={"guardrailIdentifier": "gr-1", "guardrailVersion": "1", "trace": "enabled"},
)
check("guardrail intervened", r["stopReason"] == "guardrail_intervened", r["stopReason"])
check("guardrail trace", "gr-1" in r["trace"]["guardrail"]["inputAssessment"], r.get("trace"))

# Streamed reasoning: deltas, a signature, metadata with usage.
r = client.converse_stream(
    modelId=MODEL,
    messages=[{"role": "user", "content": [{"text": "Say hello"}]}],
    inferenceConfig={"maxTokens": 2048},
    additionalModelRequestFields=thinking,
)
kinds = set()
for event in r["stream"]:
    if "contentBlockDelta" in event:
        delta = event["contentBlockDelta"]["delta"]
        kinds.update(f"delta:{k}" for k in delta)
        if "reasoningContent" in delta:
            kinds.update(f"reasoning:{k}" for k in delta["reasoningContent"])
    kinds.update(event)
check("streamed reasoning", {"reasoning:text", "reasoning:signature", "metadata"} <= kinds, kinds)

# A document with citations on: cited in the answer, and as citation deltas in a stream.
cited_user = {
    "role": "user",
    "content": [
        {"text": "What changed?"},
        {"document": {"format": "txt", "name": "notes", "source": {"bytes": b"Release notes\nv0.2\n"},
                      "citations": {"enabled": True}}},
    ],
}
r = client.converse(modelId=MODEL, messages=[cited_user])
block = r["output"]["message"]["content"][0]["citationsContent"]
check("citations", block["citations"][0]["title"] == "notes"
      and block["citations"][0]["location"]["documentChar"]["end"] == 13, block)
r = client.converse_stream(modelId=MODEL, messages=[cited_user])
citations = [e["contentBlockDelta"]["delta"]["citation"] for e in r["stream"]
             if "citation" in e.get("contentBlockDelta", {}).get("delta", {})]
check("streamed citations", citations and citations[0]["title"] == "notes", citations)

# CountTokens.
r = client.count_tokens(
    modelId=MODEL,
    input={"converse": {"messages": [{"role": "user", "content": [{"text": "How many tokens?"}]}]}},
)
check("count tokens", r["inputTokens"] > 0, r)

# What Bedrock refuses, boto3 sees refused.
try:
    client.converse(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"text": "x"}, {"image": {"format": "jpeg", "source": {"bytes": png(4, 4)}}}]}],
    )
    check("mismatched image refused", False, "accepted")
except client.exceptions.ValidationException as e:
    check("mismatched image refused", "jpeg" in str(e), str(e))

# Today's models, as Bedrock refuses them.
def refused(name, call, error, needle):
    try:
        call()
        check(name, False, "accepted")
    except getattr(client.exceptions, error) as e:
        check(name, needle in str(e), str(e))


hi = [{"role": "user", "content": [{"text": "hi"}]}]
refused(
    "end of life refused",
    lambda: client.converse(modelId="us.anthropic.claude-3-7-sonnet-20250219-v1:0", messages=hi),
    "ResourceNotFoundException",
    "This model version has reached the end of its life.",
)
refused(
    "bare profile-only id refused",
    lambda: client.converse(modelId="anthropic.claude-sonnet-4-6", messages=hi),
    "ValidationException",
    "with on-demand throughput isn't supported",
)
refused(
    "budget thinking refused on an adaptive-only model",
    lambda: client.converse(
        modelId="us.anthropic.claude-opus-4-7",
        messages=hi,
        inferenceConfig={"maxTokens": 4096},
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 2048}},
    ),
    "ValidationException",
    '"thinking.type.enabled" is not supported for this model.',
)
r = client.converse(
    modelId="us.anthropic.claude-opus-4-7",
    messages=hi,
    additionalModelRequestFields={"thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}},
)
check("adaptive thinking answers with reasoning", "reasoningContent" in r["output"]["message"]["content"][0], r)

# The control plane: AWS's own client lists and reads the emulator's models.
control = boto3.client("bedrock", endpoint_url=os.environ["BEDROCK_URL"], region_name=os.environ["AWS_REGION"])
listed = control.list_foundation_models(byProvider="Anthropic")["modelSummaries"]
ids = {m["modelId"]: m for m in listed}
check("list foundation models", "anthropic.claude-sonnet-4-6" in ids, sorted(ids))
check("end of life not listed", "anthropic.claude-3-7-sonnet-20250219-v1:0" not in ids, sorted(ids))
legacy = ids.get("anthropic.claude-opus-4-1-20250805-v1:0", {}).get("modelLifecycle", {})
check("legacy with its dates", legacy.get("status") == "LEGACY" and legacy["endOfLifeTime"].year == 2027, legacy)
detail = control.get_foundation_model(modelIdentifier="anthropic.claude-opus-4-7")["modelDetails"]
check("get foundation model", detail["modelLifecycle"]["status"] == "ACTIVE", detail)
profiles = [p for page in control.get_paginator("list_inference_profiles").paginate(PaginationConfig={"PageSize": 3}) for p in page["inferenceProfileSummaries"]]
pids = [p["inferenceProfileId"] for p in profiles]
check("list inference profiles (paginated)", "us.anthropic.claude-sonnet-4-6" in pids and len(pids) == len(set(pids)) > 3, pids)
r = client.converse(modelId=profiles[0]["inferenceProfileArn"], messages=hi)
check("a listed profile ARN answers", r["stopReason"] == "end_turn", r)

print("all shapes accepted")
