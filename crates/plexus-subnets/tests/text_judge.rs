//! The text validator's check on the real SmolLM2: honest answers pass, with or without
//! token ids, stop strings included; truncated, invented, mislabelled ones and ones that
//! run past a stop string do not.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::ops::ControlFlow;
use std::sync::Arc;

use plexus_models::testing::test_model_dir;
use plexus_models::{DEFAULT_TOLERANCE, ModelKind, TextModel};
use plexus_subnets::Subnet as _;
use plexus_subnets::text::{
    ChatAnswer, ChatMessage, ChatRequest, CheckError, EmbeddedText, FinishReason,
    PLAIN_TEXT_AXON_VERSION, TextBackend, TextJudgeConfig, TextSubnet, check_answer,
};
use tokio::sync::mpsc;

fn model() -> TextModel {
    let dir = test_model_dir(ModelKind::Text).expect("fetching SmolLM2 for the tests");
    TextModel::load(&dir).expect("loading SmolLM2")
}

fn request(max_tokens: u32) -> ChatRequest {
    ChatRequest {
        stream: true,
        ..ChatRequest::chat(
            vec![ChatMessage::user("What is the capital of France?")],
            max_tokens,
        )
    }
}

/// Why an answer was refused, which must be the answer's doing: refusing it for the
/// checker's own failure would let a miner keep its score without being judged.
fn refused(checked: Result<usize, CheckError>) -> String {
    match checked {
        Err(CheckError::Wrong(why)) => why,
        other => panic!("expected the answer refused, got {other:?}"),
    }
}

/// What the embedded miner answers, as it sends it.
fn honest(model: &TextModel, request: &ChatRequest) -> ChatAnswer {
    let generation = model
        .generate(request.input(), request.max_tokens as usize, |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    ChatAnswer {
        model: "test".into(),
        text: generation.text,
        tokens: generation.tokens.iter().map(|t| t.id).collect(),
        logprobs: generation.tokens.iter().map(|t| t.logprob).collect(),
        prompt_tokens: 0,
        finish_reason: match generation.finish {
            plexus_models::FinishReason::Stop => FinishReason::Stop,
            _ => FinishReason::Length,
        },
    }
}

/// The same answer as an upstream server sends it: text, no ids.
fn text_only(answer: &ChatAnswer) -> ChatAnswer {
    ChatAnswer {
        tokens: Vec::new(),
        logprobs: Vec::new(),
        ..answer.clone()
    }
}

#[test]
fn honest_answers_verify_and_count_their_tokens() {
    let model = model();
    let request = request(32);
    let answer = honest(&model, &request);
    assert_eq!(answer.finish_reason, FinishReason::Stop, "{answer:?}");
    let counted = check_answer(&model, &request, &answer, DEFAULT_TOLERANCE).unwrap();
    assert_eq!(counted, answer.tokens.len());
    // Without ids the stop is checked as one more position, and paid the same.
    let plain = text_only(&answer);
    let counted = check_answer(&model, &request, &plain, DEFAULT_TOLERANCE).unwrap();
    assert_eq!(counted, answer.tokens.len());
}

#[test]
fn a_truncated_answer_claiming_a_stop_is_refused() {
    let model = model();
    let request = request(32);
    let answer = honest(&model, &request);
    assert!(answer.tokens.len() > 3, "{answer:?}");
    let cut = &answer.tokens[..2];
    let truncated = ChatAnswer {
        text: model.detokenize(cut).unwrap(),
        tokens: cut.to_vec(),
        logprobs: answer.logprobs[..2].to_vec(),
        ..answer.clone()
    };
    let why = refused(check_answer(
        &model,
        &request,
        &truncated,
        DEFAULT_TOLERANCE,
    ));
    assert!(why.contains("stop"), "{why}");
    // The same prefix as bare text: the model does not end its turn there.
    let why = refused(check_answer(
        &model,
        &request,
        &text_only(&truncated),
        DEFAULT_TOLERANCE,
    ));
    assert!(why.contains("model goes on"), "{why}");
    // Claiming the length limit instead is refused too: the limit was 32.
    let as_length = ChatAnswer {
        finish_reason: FinishReason::Length,
        ..text_only(&truncated)
    };
    let why = refused(check_answer(
        &model,
        &request,
        &as_length,
        DEFAULT_TOLERANCE,
    ));
    assert!(why.contains("length"), "{why}");
}

#[test]
fn cut_at_the_limit_is_honest_when_the_limit_was_asked_for() {
    let model = model();
    let request = request(3);
    let answer = honest(&model, &request);
    assert_eq!(answer.finish_reason, FinishReason::Length, "{answer:?}");
    assert_eq!(
        check_answer(&model, &request, &answer, DEFAULT_TOLERANCE).unwrap(),
        3
    );
    assert_eq!(
        check_answer(&model, &request, &text_only(&answer), DEFAULT_TOLERANCE).unwrap(),
        3
    );
    // The same text claiming a stop: that stop would be a fourth token.
    let as_stop = ChatAnswer {
        finish_reason: FinishReason::Stop,
        ..text_only(&answer)
    };
    let why = refused(check_answer(&model, &request, &as_stop, DEFAULT_TOLERANCE));
    assert!(why.contains("length limit"), "{why}");
}

/// What the embedded miner sends for `request`, stop strings applied.
fn mined(model: &Arc<TextModel>, request: &ChatRequest) -> ChatAnswer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let miner = EmbeddedText::new(Arc::clone(model));
    runtime
        .block_on(miner.complete(request.clone(), tx))
        .unwrap()
}

#[test]
fn answers_end_at_a_stop_string_and_going_past_one_is_refused() {
    let model = Arc::new(model());
    let whole = honest(&model, &request(32));
    // A word from the middle of the answer, so the stop falls inside it.
    let word = whole.text.split_whitespace().nth(2).unwrap().to_owned();
    let request = ChatRequest {
        stop: vec![word.clone()],
        ..request(32)
    };
    let answer = mined(&model, &request);
    assert_eq!(answer.finish_reason, FinishReason::Stop, "{answer:?}");
    assert!(answer.text.contains(&word), "{answer:?}");
    assert!(whole.text.starts_with(&answer.text), "{answer:?} {whole:?}");
    assert!(answer.tokens.len() < whole.tokens.len());
    let counted = check_answer(&model, &request, &answer, DEFAULT_TOLERANCE).unwrap();
    assert_eq!(counted, answer.tokens.len());
    let counted = check_answer(&model, &request, &text_only(&answer), DEFAULT_TOLERANCE).unwrap();
    assert_eq!(counted, answer.tokens.len());

    // The answer that ignores the stop string: consumers would wait for text they never see.
    for ignored in [whole.clone(), text_only(&whole)] {
        let why = refused(check_answer(&model, &request, &ignored, DEFAULT_TOLERANCE));
        assert!(why.contains("past a stop string"), "{why}");
    }
    // An upstream backend sends text alone, cut where the stop string ends, which may be
    // inside the model's token: still honest. Text that goes on past the stop is not.
    let cut_inside = &word[..word.len() - 1];
    let inside = ChatRequest {
        stop: vec![cut_inside.to_owned()],
        ..request.clone()
    };
    let end = whole.text.find(cut_inside).unwrap() + cut_inside.len();
    let upstream = ChatAnswer {
        text: whole.text[..end].to_owned(),
        finish_reason: FinishReason::Stop,
        ..text_only(&whole)
    };
    check_answer(&model, &inside, &upstream, DEFAULT_TOLERANCE).unwrap();
    let past = ChatAnswer {
        text: whole.text[..end + 1].to_owned(),
        ..upstream.clone()
    };
    let why = refused(check_answer(&model, &inside, &past, DEFAULT_TOLERANCE));
    assert!(why.contains("past a stop string"), "{why}");
    // Cut there, but not at a stop string the model's text reaches.
    let wrong = ChatRequest {
        stop: vec![format!("{cut_inside}zq")],
        ..request.clone()
    };
    refused(check_answer(&model, &wrong, &upstream, DEFAULT_TOLERANCE));

    // Stopping at the string but claiming the length limit.
    let as_length = ChatAnswer {
        finish_reason: FinishReason::Length,
        ..answer
    };
    let why = refused(check_answer(
        &model,
        &request,
        &as_length,
        DEFAULT_TOLERANCE,
    ));
    assert!(why.contains("stop string"), "{why}");
}

/// Text alone cut anywhere a stop string could end, as an upstream miner sends it: every
/// such cut is honest, whether it falls between the model's tokens, inside one, or where
/// reading the text again joins pieces of two.
#[test]
fn text_cut_at_any_stop_string_passes() {
    let model = model();
    let whole = honest(&model, &request(32));
    let text = whole.text.trim_end();
    let mut checked = 0;
    // The first words' cuts: each is a scoring pass or more.
    for end in (4..=text.len().min(20)).filter(|&i| text.is_char_boundary(i)) {
        let cut = &text[..end];
        // The cut's last characters, as a stop string that first occurs right there.
        let from = (0..end)
            .rev()
            .filter(|&i| cut.is_char_boundary(i))
            .nth(2)
            .unwrap_or(0);
        let stop = &cut[from..];
        if cut.find(stop).map(|at| at + stop.len()) != Some(end) {
            continue;
        }
        let stopped = ChatRequest {
            stop: vec![stop.to_owned()],
            ..request(32)
        };
        let answer = ChatAnswer {
            text: cut.to_owned(),
            finish_reason: FinishReason::Stop,
            ..text_only(&whole)
        };
        if let Err(why) = check_answer(&model, &stopped, &answer, DEFAULT_TOLERANCE) {
            panic!("{cut:?} at stop {stop:?}: {why}");
        }
        checked += 1;
    }
    assert!(checked > 10, "{checked} cuts checked in {text:?}");
}

#[test]
fn invented_text_and_false_log_probabilities_are_refused() {
    let model = model();
    let request = request(32);
    let fluent = ChatAnswer {
        model: "test".into(),
        text: "The capital of France is Lyon, a city on the Rhône.".into(),
        tokens: Vec::new(),
        logprobs: Vec::new(),
        prompt_tokens: 0,
        finish_reason: FinishReason::Stop,
    };
    let why = refused(check_answer(&model, &request, &fluent, DEFAULT_TOLERANCE));
    assert!(why.contains("not the model's"), "{why}");

    let mut answer = honest(&model, &request);
    answer.logprobs[1] -= 1.0;
    let why = refused(check_answer(&model, &request, &answer, DEFAULT_TOLERANCE));
    assert!(why.contains("token 1"), "{why}");
}

#[test]
fn plain_text_is_continued_as_it_stands() {
    let model = Arc::new(model());
    let plain = ChatRequest::text("The capital of France is", 12);
    let answer = mined(&model, &plain);
    assert_eq!(
        check_answer(&model, &plain, &answer, DEFAULT_TOLERANCE),
        Ok(answer.tokens.len())
    );
    assert!(check_answer(&model, &plain, &text_only(&answer), DEFAULT_TOLERANCE).is_ok());
    // A miner that wraps the prompt in the chat template answers another question.
    let chat = ChatRequest::chat(vec![ChatMessage::user("The capital of France is")], 12);
    let wrapped = mined(&model, &chat);
    assert_ne!(wrapped.text, answer.text);
    for wrong in [wrapped.clone(), text_only(&wrapped)] {
        let why = refused(check_answer(&model, &plain, &wrong, DEFAULT_TOLERANCE));
        assert!(why.contains("not the model's"), "{why}");
    }
    // A miner of an older build (axon version 1) cannot take plain text: it sits such
    // rounds out instead of scoring zero.
    let subnet = TextSubnet::new(Arc::clone(&model), TextJudgeConfig::default());
    assert!(!subnet.takes(&plain, 1) && subnet.takes(&plain, PLAIN_TEXT_AXON_VERSION));
    assert!(subnet.takes(&chat, 1));
}

#[test]
fn an_answer_going_on_past_the_end_of_its_turn_is_refused() {
    let model = model();
    let answer = honest(&model, &request(32));
    assert_eq!(answer.finish_reason, FinishReason::Stop, "{answer:?}");
    // What greedy decoding writes after the end of turn, as a miner padding its answer
    // (to be paid for more tokens) would go on: every token is still the model's choice.
    let probe = [answer.tokens.as_slice(), &answer.tokens[..1]].concat();
    let scores = model.score(request(32).input(), &probe).unwrap();
    let next = scores.last().unwrap().top_id;
    let tokens = [answer.tokens.as_slice(), &[next]].concat();
    let asked = request(tokens.len() as u32);
    let scores = model.score(asked.input(), &tokens).unwrap();
    assert!(
        scores
            .iter()
            .all(|s| s.top_logprob - s.logprob <= DEFAULT_TOLERANCE),
        "the padding is the model's own choice"
    );
    let padded = ChatAnswer {
        text: model.detokenize(&tokens).unwrap(),
        logprobs: scores.iter().map(|s| s.logprob).collect(),
        tokens,
        finish_reason: FinishReason::Length,
        ..answer
    };
    let why = refused(check_answer(&model, &asked, &padded, DEFAULT_TOLERANCE));
    assert!(why.contains("past the end of its turn"), "{why}");
}
