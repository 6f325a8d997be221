//! Horizontal bar widgets drawn with the painter: the per-hop latency against the 10 ms budget, and
//! the dBFS level meters with a falling peak hold. Colours say at a glance whether a value is safe,
//! close to its limit, or over it.
use eframe::egui::{self, Color32, Rect, Sense, Stroke, StrokeKind, Vec2};

/// Comfortably inside the budget / a quiet level.
pub const GOOD: Color32 = Color32::from_rgb(70, 180, 90);
/// Close to the budget / a hot level.
pub const WARN: Color32 = Color32::from_rgb(230, 170, 40);
/// Over the budget / clipping.
pub const BAD: Color32 = Color32::from_rgb(220, 60, 50);

/// Size of a latency bar, in points.
const LATENCY_BAR_SIZE: Vec2 = Vec2::new(200.0, 14.0);
/// Size of a level bar, in points (narrower: three sections share the row).
const LEVEL_BAR_SIZE: Vec2 = Vec2::new(120.0, 14.0);

/// Colour of a per-hop compute time: green below half the budget, amber below it, red from it on.
pub fn latency_colour(frame_ms: f32, budget_ms: f32) -> Color32 {
    if frame_ms < 0.5 * budget_ms {
        GOOD
    } else if frame_ms < budget_ms {
        WARN
    } else {
        BAD
    }
}

/// Colour of a peak level: green below −12 dBFS, amber below −3 dBFS, red (near clipping) above.
pub fn level_colour(peak_db: f32) -> Color32 {
    if peak_db < -12.0 {
        GOOD
    } else if peak_db < -3.0 {
        WARN
    } else {
        BAD
    }
}

/// Draws the latency of one backend: a bar filled up to `last_ms`, thin ticks at the median and the
/// p99, and a white line at the budget. The scale ends at twice the budget so that an overrun shows.
pub fn latency_bar(ui: &mut egui::Ui, last_ms: f32, median_ms: f32, p99_ms: f32, budget_ms: f32) {
    let (rect, _) = ui.allocate_exact_size(LATENCY_BAR_SIZE, Sense::hover());
    let full_scale_ms = 2.0 * budget_ms;
    let x_of = |ms: f32| rect.left() + rect.width() * (ms / full_scale_ms).clamp(0.0, 1.0);
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let fill = Rect::from_min_max(rect.min, egui::pos2(x_of(last_ms), rect.bottom()));
    painter.rect_filled(fill, 2.0, latency_colour(last_ms, budget_ms));
    let text = ui.visuals().text_color();
    for ms in [median_ms, p99_ms] {
        let x = x_of(ms);
        painter.line_segment(
            [
                egui::pos2(x, rect.top() + 2.0),
                egui::pos2(x, rect.bottom() - 2.0),
            ],
            Stroke::new(1.5, text),
        );
    }
    let x = x_of(budget_ms);
    painter.line_segment(
        [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
        Stroke::new(2.0, Color32::WHITE),
    );
    painter.rect_stroke(rect, 2.0, Stroke::new(1.0, text), StrokeKind::Inside);
}

/// Lowest level a meter shows; anything quieter draws an empty bar.
pub const METER_FLOOR_DB: f32 = -60.0;

/// Peak-hold ballistics of a level meter: follows a rising level at once and falls at a fixed rate,
/// so a level published once per 10 ms block reads steadily at the UI's repaint rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakHold {
    held_db: f32,
    /// Time of the last update, in seconds on the UI clock.
    time_s: f64,
}

impl PeakHold {
    /// How fast the held value falls, in dB per second.
    pub const FALL_DB_PER_S: f32 = 20.0;

    /// A meter at rest (at the floor).
    pub fn new() -> Self {
        Self {
            held_db: METER_FLOOR_DB,
            time_s: 0.0,
        }
    }

    /// Takes the current peak (dBFS, may be −∞ or NaN for silence) at time `time_s` and returns the
    /// level to draw.
    pub fn update(&mut self, peak_db: f32, time_s: f64) -> f32 {
        let dt_s = (time_s - self.time_s).max(0.0) as f32;
        self.time_s = time_s;
        let fallen_db = self.held_db - Self::FALL_DB_PER_S * dt_s;
        let peak_db = if peak_db.is_nan() {
            METER_FLOOR_DB
        } else {
            peak_db
        };
        self.held_db = fallen_db.max(peak_db).max(METER_FLOOR_DB);
        self.held_db
    }
}

impl Default for PeakHold {
    fn default() -> Self {
        Self::new()
    }
}

/// Draws a level meter from [`METER_FLOOR_DB`] to 0 dBFS, with ticks every 12 dB.
pub fn level_bar(ui: &mut egui::Ui, level_db: f32) {
    let (rect, _) = ui.allocate_exact_size(LEVEL_BAR_SIZE, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let fraction = ((level_db - METER_FLOOR_DB) / -METER_FLOOR_DB).clamp(0.0, 1.0);
    let fill = Rect::from_min_size(rect.min, Vec2::new(rect.width() * fraction, rect.height()));
    painter.rect_filled(fill, 2.0, level_colour(level_db));
    let text = ui.visuals().text_color();
    let mut tick_db = METER_FLOOR_DB + 12.0;
    while tick_db < 0.0 {
        let x = rect.left() + rect.width() * (tick_db - METER_FLOOR_DB) / -METER_FLOOR_DB;
        painter.line_segment(
            [
                egui::pos2(x, rect.bottom() - 4.0),
                egui::pos2(x, rect.bottom()),
            ],
            Stroke::new(1.0, text),
        );
        tick_db += 12.0;
    }
    painter.rect_stroke(rect, 2.0, Stroke::new(1.0, text), StrokeKind::Inside);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_colours_follow_the_budget() {
        assert_eq!(latency_colour(0.3, 10.0), GOOD);
        assert_eq!(latency_colour(7.0, 10.0), WARN);
        assert_eq!(latency_colour(10.0, 10.0), BAD);
        assert_eq!(level_colour(-40.0), GOOD);
        assert_eq!(level_colour(-12.0), WARN);
        assert_eq!(level_colour(-12.5), GOOD);
        assert_eq!(level_colour(-0.5), BAD);
    }

    #[test]
    fn peak_hold_rises_at_once_and_falls_at_its_rate() {
        let mut hold = PeakHold::new();
        assert_eq!(hold.update(f32::NEG_INFINITY, 0.0), METER_FLOOR_DB);
        assert_eq!(hold.update(-6.0, 0.1), -6.0);
        // Quieter input half a second later: the held value has fallen by 10 dB, not to the input.
        assert!((hold.update(-50.0, 0.6) - -16.0).abs() < 1e-4);
        assert_eq!(hold.update(f32::NAN, 10.0), METER_FLOOR_DB);
        assert_eq!(hold.update(-3.0, 10.0), -3.0);
    }
}
