"""The official `openai` client against a running `plexus up` gateway.

Usage: openai_check.py BASE_URL [MINER_PID_TO_KILL]

Checks a chat completion, a streamed chat completion, log-probabilities with a stop
string, a plain-text completion with its prompt echoed, an embedding, and that an
unknown model is an OpenAI-shaped 404; with a miner's PID, kills it while requests
flow and checks that none of them fails. Exits non-zero on the first failure.
"""

import os
import signal
import sys

import openai
from openai import OpenAI

TEXT = "smollm2-135m-instruct"
EMBED = "all-minilm-l6-v2"


def main() -> None:
    base_url = sys.argv[1]
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)

    models = {m.id for m in client.models.list()}
    assert {TEXT, EMBED} <= models, models

    chat = client.chat.completions.create(
        model=TEXT,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=16,
    )
    answer = chat.choices[0].message.content
    assert "Paris" in answer, answer
    assert chat.usage.prompt_tokens > 0 and chat.usage.completion_tokens > 0, chat.usage
    print(f"chat: {answer!r}")

    pieces = []
    stream = client.chat.completions.create(
        model=TEXT,
        messages=[{"role": "user", "content": "Name a color."}],
        max_tokens=8,
        stream=True,
    )
    finish = None
    for chunk in stream:
        delta = chunk.choices[0].delta.content
        if delta:
            pieces.append(delta)
        finish = chunk.choices[0].finish_reason or finish
    assert pieces and finish in ("stop", "length"), (pieces, finish)
    print(f"stream: {''.join(pieces)!r} in {len(pieces)} chunks, finish {finish}")

    # Log-probabilities of the chosen tokens, whole and streamed, with a stop string.
    chat = client.chat.completions.create(
        model=TEXT,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=16,
        logprobs=True,
        stop=["."],
    )
    choice = chat.choices[0]
    tokens = choice.logprobs.content
    assert tokens and all(t.logprob <= 0 and t.top_logprobs == [] for t in tokens), tokens
    joined = "".join(t.token for t in tokens)
    assert joined.startswith(choice.message.content), (joined, choice.message.content)
    assert choice.finish_reason == "stop" and "." not in choice.message.content, choice
    print(f"logprobs: {[(t.token, round(t.logprob, 3)) for t in tokens]}")
    streamed = []
    for chunk in client.chat.completions.create(
        model=TEXT,
        messages=[{"role": "user", "content": "Name a color."}],
        max_tokens=8,
        stream=True,
        logprobs=True,
    ):
        if chunk.choices and chunk.choices[0].logprobs:
            streamed.extend(chunk.choices[0].logprobs.content or [])
    assert streamed and all(t.logprob <= 0 for t in streamed), streamed
    print(f"streamed logprobs: {len(streamed)} tokens")

    # The legacy completions endpoint continues plain text, and echoes it when asked.
    prompt = "The capital of France is"
    completion = client.completions.create(model=TEXT, prompt=prompt, max_tokens=8, echo=True)
    text = completion.choices[0].text
    assert text.startswith(prompt) and "Paris" in text[len(prompt):], text
    assert completion.usage.prompt_tokens == 5, completion.usage
    print(f"completion: {text!r}")

    embedding = client.embeddings.create(model=EMBED, input=["A man is eating food."])
    vector = embedding.data[0].embedding
    assert len(vector) == 384, len(vector)
    norm = sum(x * x for x in vector) ** 0.5
    assert abs(norm - 1.0) < 1e-3, norm
    print(f"embedding: {len(vector)} dimensions, norm {norm:.4f}")

    try:
        client.chat.completions.create(
            model="gpt-imaginary", messages=[{"role": "user", "content": "hi"}]
        )
        raise AssertionError("an unknown model was served")
    except openai.NotFoundError as e:
        assert e.status_code == 404
        assert e.body["code"] == "model_not_found", e.body
        print(f"unknown model: 404 {e.body['code']}")

    if len(sys.argv) > 2:
        victim = int(sys.argv[2])
        for i in range(12):
            if i == 3:
                os.kill(victim, signal.SIGKILL)
                print(f"killed miner {victim}")
            r = client.chat.completions.with_raw_response.create(
                model=TEXT,
                messages=[{"role": "user", "content": f"Count to {i + 2}."}],
                max_tokens=6,
            )
            r.parse()
            print(f"request {i}: served by miner UID {r.headers.get('x-plexus-miner-uid')}")
        print("failover: 12 of 12 requests answered")


if __name__ == "__main__":
    main()
