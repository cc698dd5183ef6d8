"""Languages a translator offers, and text translation through the session's LLM.

A base model such as the packaged Gemma 270M translates short sentences well enough when the
prompt shows it a few translations between the same two languages (`PHRASEBOOK`); an
instruction-tuned model behind the OpenAI-compatible provider needs no examples but gets them
all the same (they cost a few dozen tokens).
"""

from __future__ import annotations

from collections.abc import Callable

from voxroom.providers.base import LLM, ChatMessage, LLMRequest

NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "zh": "Chinese",
    "ja": "Japanese",
}
# The same three sentences in every language of NAMES.
PHRASEBOOK = {
    "en": ["Good morning, how can I help you?", "The train leaves at eight o'clock.",
           "I would like two coffees, please."],
    "es": ["Buenos días, ¿en qué puedo ayudarle?", "El tren sale a las ocho.",
           "Quisiera dos cafés, por favor."],
    "fr": ["Bonjour, comment puis-je vous aider ?", "Le train part à huit heures.",
           "Je voudrais deux cafés, s'il vous plaît."],
    "de": ["Guten Morgen, wie kann ich Ihnen helfen?", "Der Zug fährt um acht Uhr ab.",
           "Ich hätte gern zwei Kaffee, bitte."],
    "it": ["Buongiorno, come posso aiutarla?", "Il treno parte alle otto.",
           "Vorrei due caffè, per favore."],
    "pt": ["Bom dia, como posso ajudar?", "O trem sai às oito horas.",
           "Eu gostaria de dois cafés, por favor."],
    "nl": ["Goedemorgen, hoe kan ik u helpen?", "De trein vertrekt om acht uur.",
           "Ik wil graag twee koffie, alstublieft."],
    "pl": ["Dzień dobry, jak mogę pomóc?", "Pociąg odjeżdża o ósmej.", "Poproszę dwie kawy."],
    "zh": ["早上好，我能帮您什么？", "火车八点开。", "请给我两杯咖啡。"],
    "ja": ["おはようございます、何かお手伝いできますか？", "電車は八時に出発します。",
           "コーヒーを二つお願いします。"],
}  # fmt: skip


def name_of(code: str) -> str:
    return NAMES.get(code, code)


def translation_request(text: str, source: str, target: str) -> LLMRequest:
    """A few-shot prompt: "Spanish: … / Assistant: <French>" for the phrasebook, then `text`."""
    said, wanted = name_of(source), name_of(target)
    messages = [
        ChatMessage(
            "system",
            f"The assistant translates what is said from {said} into {wanted}. "
            "It answers with the translation only.",
        )
    ]
    for original, translated in zip(
        PHRASEBOOK.get(source, PHRASEBOOK["en"]), PHRASEBOOK.get(target, []), strict=False
    ):
        messages += [
            ChatMessage("user", original, speaker=said),
            ChatMessage("assistant", translated),
        ]
    messages.append(ChatMessage("user", text, speaker=said))
    words = len(text.split())
    return LLMRequest(
        messages=messages, max_tokens=min(256, 3 * words + 16), temperature=0.0, stop=["\n"]
    )


async def translate_text(
    llm: LLM, text: str, source: str, target: str, give_way: Callable[[], bool] | None = None
) -> str | None:
    """`text` in `target` (ProviderError from the LLM propagates). `give_way`: asked before
    each token; True stops the model at once (None is returned): optional work yields the
    CPU to required work."""
    out = ""
    stream = llm.stream(translation_request(text, source, target))
    try:
        async for delta in stream:
            if give_way is not None and give_way():
                return None
            out += delta
    finally:
        close = getattr(stream, "aclose", None)  # an async generator: stops the model thread
        if close is not None:
            await close()
    return " ".join(out.split())
