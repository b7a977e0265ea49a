"""Text side: prompt templates byte-exact (upstream_dit.md §3.1), caption states, lyric embeddings."""

import pytest
import torch

from engine.models.text_encoder import TextEncoder


@pytest.fixture(scope="module")
def encoder(tiny_checkpoints_any):
    return TextEncoder.load(tiny_checkpoints_any / "Qwen3-Embedding-0.6B")


def test_prompt_templates_are_byte_exact():
    from engine.tasks import prompts

    metas = prompts.format_metas(120, "4", "C major", 30.7)
    assert metas == "- bpm: 120\n- timesignature: 4\n- keyscale: C major\n- duration: 30 seconds\n"
    assert prompts.format_metas(None, "", "", None) == (
        "- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n- duration: 30 seconds\n"
    )
    caption = prompts.caption_prompt(
        "Fill the audio semantic mask based on the given conditions:", "lofi", metas
    )
    assert caption == (
        "# Instruction\nFill the audio semantic mask based on the given conditions:\n\n"
        "# Caption\nlofi\n\n# Metas\n" + metas + "<|endoftext|>\n"
    )
    assert (
        prompts.lyric_prompt("en", "[Instrumental]")
        == "# Languages\nen\n\n# Lyric\n[Instrumental]<|endoftext|>"
    )


def test_caption_states_right_padded_and_causal(encoder):
    short, long = (
        "# Instruction\nhi<|endoftext|>\n",
        "# Instruction\nhello there, a longer one<|endoftext|>\n",
    )
    both = encoder.encode_captions([short, long])
    alone = encoder.encode_captions([short])
    n = int(alone.attention_mask.sum())
    assert both.hidden_states.shape[:2] == both.attention_mask.shape
    assert both.attention_mask[0, :n].all() and not both.attention_mask[0, n:].any()  # right padding
    # No attention mask is passed (as upstream); causal attention keeps valid rows identical.
    assert torch.allclose(both.hidden_states[0, :n], alone.hidden_states[0], atol=1e-5)
    ids, _ = encoder.tokenize([short], 256)
    eot = encoder.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    # The prompt ends in "<|endoftext|>\n"; the shipped tokenizer appends one more <|endoftext|> (§1.1).
    assert ids[0, -1].item() == eot and ids[0, -2].item() != eot


def test_lyric_embeddings_are_the_input_table(encoder):
    prompt = "# Languages\nen\n\n# Lyric\nla la la<|endoftext|>"
    out = encoder.embed_lyrics([prompt])
    ids, mask = encoder.tokenize([prompt], 2048)
    table = encoder.model.get_input_embeddings().weight
    assert torch.equal(out.hidden_states[0], table[ids[0]])
    assert out.hidden_states.shape[-1] == encoder.hidden_size and torch.equal(out.attention_mask, mask)
