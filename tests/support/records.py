"""Hand-written records in the public formats (BFCL question and answer lines, an xLAM row) that
the file loaders' and the dataset sources' tests both load."""

from __future__ import annotations

import json

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "dict",
        "properties": {
            "city": {"type": "string", "description": "City name."},
            "unit": {"type": "string", "description": "Unit.", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}

# --- BFCL: a question file's lines and a possible-answer file's lines

BFCL_SIMPLE = {
    "id": "simple_python_0",
    "question": [
        [
            {
                "role": "user",
                "content": "Find the area of a triangle with a base of 10 units and height of 5 units.",
            }
        ]
    ],
    "function": [
        {
            "name": "calculate_triangle_area",
            "description": "Calculate the area of a triangle given its base and height.",
            "parameters": {
                "type": "dict",
                "properties": {
                    "base": {"type": "integer", "description": "The base of the triangle."},
                    "height": {"type": "integer", "description": "The height of the triangle."},
                    "unit": {
                        "type": "string",
                        "description": "The unit of measure (defaults to 'units' if not specified)",
                    },
                },
                "required": ["base", "height"],
            },
        }
    ],
}
BFCL_SIMPLE_ANSWER = {
    "id": "simple_python_0",
    "ground_truth": [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}],
}
BFCL_LIVE = {
    "id": "live_multiple_3-2-0",
    "question": [
        [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Order 2 lattes to 5 Main Road."},
        ]
    ],
    "function": [
        {
            "name": "order_drink",
            "description": "Order drinks.",
            "parameters": {
                "type": "dict",
                "required": ["drink", "count"],
                "properties": {
                    "drink": {"type": "string", "description": "Drink."},
                    "count": {"type": "integer", "description": "How many."},
                },
            },
        },
        WEATHER,
    ],
}
BFCL_LIVE_ANSWER = {
    "id": "live_multiple_3-2-0",
    "ground_truth": [{"order_drink": {"drink": ["latte"], "count": [2]}}],
}
BFCL_IRRELEVANCE = {
    "id": "irrelevance_7",
    "question": [[{"role": "user", "content": "Who wrote Hamlet?"}]],
    "function": [WEATHER],
}

# --- xLAM: one row of xlam_function_calling_60k

XLAM_RECORD = {
    "id": 0,
    "query": "Where can I find live giveaways for beta access and games?",
    "answers": json.dumps(
        [
            {"name": "live_giveaways_by_type", "arguments": {"type": "beta"}},
            {"name": "live_giveaways_by_type", "arguments": {"type": "game"}},
        ]
    ),
    "tools": json.dumps(
        [
            {
                "name": "live_giveaways_by_type",
                "description": "Retrieve live giveaways from the GamerPower API based on the specified type.",
                "parameters": {
                    "type": {
                        "description": "The type of giveaways to retrieve (e.g., game, loot, beta).",
                        "type": "str",
                        "default": "game",
                    },
                    "limit": {"description": "How many to return.", "type": "int, optional", "default": 10},
                },
            }
        ]
    ),
}
