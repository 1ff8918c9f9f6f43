"""OpenAPI request-body schemas for the routes that parse their bodies by hand (validation.py).

Published so clients and schema-driven testers (schemathesis) know the shape; the handlers
enforce the same rules and name the failing field.
"""

from __future__ import annotations

from typing import Any

_TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}},
}

_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": _TEXT_PART, "minItems": 1}]},
        "name": {"type": "string"},
        "tool_call_id": {"type": "string"},
    },
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


CHAT = _body(
    {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {"type": "string", "minLength": 1, "description": "'auto', a task, or a model from /v1/models"},
            "messages": {"type": "array", "items": _MESSAGE, "minItems": 1},
            "stream": {"type": "boolean"},
            "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
            "metadata": {"type": "object", "properties": {"task": {"type": "string"}}, "additionalProperties": {"type": "string"}},
            "response_format": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string", "enum": ["text", "json_object", "json_schema"]}},
            },
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "n": {"type": "integer", "minimum": 1, "maximum": 128},
            "max_tokens": {"type": "integer", "minimum": 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "seed": {"type": "integer"},
            "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "user": {"type": "string"},
        },
    }
)

EMBEDDINGS = _body(
    {
        "type": "object",
        "required": ["input"],
        "properties": {
            "model": {"type": "string"},
            "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2048}]},
            "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        },
    }
)

CLASSIFY = _body(
    {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": {"type": "string", "description": "a task or a specialist model"},
            "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2048}]},
            "top_k": {"type": "integer", "minimum": 1},
        },
    }
)

FEEDBACK = _body(
    {
        "type": "object",
        "required": ["request_id"],
        "additionalProperties": False,
        "anyOf": [{"required": ["label"]}, {"required": ["labels"]}, {"required": ["score"]}, {"required": ["correct"]}],
        "properties": {
            "request_id": {"type": "string", "minLength": 1, "maxLength": 128, "description": "x-request-id of the answer (or its chatcmpl- id)"},
            "label": {"type": "string", "minLength": 1, "maxLength": 256, "description": "the correct label"},
            "labels": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 256}, "description": "the correct labels (multi-label tasks)"},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "correct": {"type": "boolean", "description": "whether the answer was right"},
        },
    }
)

_SAMPLING = {
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "user": {"type": "string"},
    "metadata": {"type": "object", "properties": {"task": {"type": "string"}}, "additionalProperties": {"type": "string"}},
}

COMPLETIONS = _body(
    {
        "type": "object",
        "required": ["model", "prompt"],
        "properties": {
            "model": {"type": "string", "minLength": 1, "description": "'auto', a task, or a model from /v1/models"},
            "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 16}],
                       "description": "several prompts: one routed request each (not with stream)"},
            "stream": {"type": "boolean"},
            "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
            "max_tokens": {"type": "integer", "minimum": 1},
            "n": {"type": "integer", "minimum": 1, "maximum": 128},
            "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "seed": {"type": "integer"},
            **_SAMPLING,
        },
    }
)

_INPUT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"type": "string", "enum": ["input_text", "output_text"]}, "text": {"type": "string"}},
}

RESPONSES = _body(
    {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": {"type": "string", "minLength": 1, "description": "'auto', a task, or a model from /v1/models"},
            "input": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["role", "content"],
                            "properties": {
                                "type": {"type": "string", "enum": ["message"]},
                                "role": {"type": "string", "enum": ["user", "assistant", "system", "developer"]},
                                "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": _INPUT_PART, "minItems": 1}]},
                            },
                        },
                    },
                ]
            },
            "instructions": {"type": "string"},
            "stream": {"type": "boolean"},
            "max_output_tokens": {"type": "integer", "minimum": 1},
            "seed": {"type": "integer"},
            **_SAMPLING,
        },
    }
)
