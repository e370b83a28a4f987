"""A campaign's survey results: each question's score, the distribution of its answers, and the comments.

The score is the one each kind is read by: NPS is the share of promoters (9–10) less that of detractors (0–6),
from −100 to 100; satisfaction is the average (1–5); yes/no is the share of yes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import render_template
from markupsafe import Markup
from sqlalchemy import func, select

from core.db import db
from mailer.models import Campaign
from surveys.models import SurveyAnswer
from surveys.questions import NPS, QUESTIONS, SATISFACTION, Question

COMMENTS_SHOWN = 100  # the latest; the rest are in the answers' events


@dataclass(frozen=True)
class Comment:
    """A comment as the report lists it, with the answer it came with."""

    answer: str
    text: str
    answered_at: datetime


@dataclass(frozen=True)
class Bar:
    """One answer in the distribution: how many gave it, their share of all the question's answers, its tone."""

    label: str
    count: int
    share: float  # 0…1 of everyone who answered the question: the bar's length
    tone: str  # NPS's group (detractor, passive, promoter) for its colour, else ""


def nps_tone(score: int) -> str:
    """The NPS group an answer falls in: detractors 0–6, passives 7–8, promoters 9–10."""
    return "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"


@dataclass(frozen=True)
class QuestionResult:
    """One question's answers in a campaign."""

    question: Question
    answers: int
    score: float  # NPS −100…100, satisfaction's average, or the share of yes (0…1)
    distribution: list[Bar]  # every possible answer in order
    comments: list[Comment]


def nps(counts: dict[int, int]) -> float:
    """Net Promoter Score: % promoters (9–10) − % detractors (0–6) of everyone who answered."""
    total = sum(counts.values())
    promoters = sum(n for score, n in counts.items() if score >= 9)
    detractors = sum(n for score, n in counts.items() if score <= 6)
    return 100 * (promoters - detractors) / total if total else 0.0


def score_of(question: Question, counts: dict[int, int]) -> float:
    """The question's score from its answers' counts by score."""
    total = sum(counts.values())
    if question.name == NPS:
        return nps(counts)
    if question.name == SATISFACTION:
        return sum(score * n for score, n in counts.items()) / total if total else 0.0
    return counts.get(1, 0) / total if total else 0.0


def campaign_results(campaign_id: int) -> list[QuestionResult]:
    """Each question the campaign's readers answered, in the order of QUESTIONS."""
    counts: dict[str, dict[int, int]] = {}
    for question, score, number in db.session.execute(
            select(SurveyAnswer.question, SurveyAnswer.score, func.count()).where(
                SurveyAnswer.campaign_id == campaign_id).group_by(SurveyAnswer.question, SurveyAnswer.score)):
        counts.setdefault(question, {})[score] = number
    results = []
    for name, asked in QUESTIONS.items():
        if name not in counts:
            continue
        comments = db.session.execute(
            select(SurveyAnswer.score, SurveyAnswer.comment, SurveyAnswer.answered_at)
            .where(SurveyAnswer.campaign_id == campaign_id, SurveyAnswer.question == name, SurveyAnswer.comment != "")
            .order_by(SurveyAnswer.answered_at.desc()).limit(COMMENTS_SHOWN))
        scores = sorted(set(asked.answers.values()), reverse=name != NPS)
        total = sum(counts[name].values())
        results.append(QuestionResult(
            asked, total, score_of(asked, counts[name]),
            [Bar(asked.label(score), counts[name].get(score, 0), counts[name].get(score, 0) / total,
                 nps_tone(score) if name == NPS else "") for score in scores],
            [Comment(asked.label(score), text, at) for score, text, at in comments]))
    return results


def survey_section(campaign: Campaign) -> Markup | str:
    """The report's survey section (tracking/report_views.py), or nothing when the campaign asked no question."""
    results = campaign_results(campaign.id)
    if not results:
        return ""
    return Markup(render_template("surveys/_report.html", results=results))  # noqa: S704  (our template's output)
