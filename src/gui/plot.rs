//! The latency history plot: one line per backend over the last [`WINDOW_S`] seconds, a dashed line
//! at the 10 ms budget, and a y axis that grows to fit the largest value shown. Drawn with the painter
//! straight from the history rings (egui_plot would want its own copy of every point each repaint).
use eframe::egui::{self, Align2, Color32, FontId, Pos2, Sense, Shape, Stroke, StrokeKind, Vec2};

use super::history::History;

/// Time span shown, in seconds.
pub const WINDOW_S: f64 = 10.0;

/// Line colours of the backends, in worker order (repeats after the last).
pub const PALETTE: [Color32; 4] = [
    Color32::from_rgb(90, 160, 255),
    Color32::from_rgb(255, 140, 60),
    Color32::from_rgb(200, 110, 230),
    Color32::from_rgb(80, 210, 200),
];

/// Colour of worker `index`.
pub fn backend_colour(index: usize) -> Color32 {
    PALETTE[index % PALETTE.len()]
}

/// Top of the y axis in ms: the next multiple of a quarter budget above the largest value, and at
/// least 1.25 × the budget, so the scale changes in steps rather than at every repaint.
pub fn y_max_ms(largest_ms: f32, budget_ms: f32) -> f32 {
    let step_ms = 0.25 * budget_ms;
    let steps = (largest_ms / step_ms).floor() + 1.0;
    (steps * step_ms).max(1.25 * budget_ms)
}

/// Draws the plot for `histories` (one per backend, same order as the workers) ending at `now_s`.
pub fn history_plot(ui: &mut egui::Ui, histories: &[History], now_s: f64, budget_ms: f32) {
    let width = ui.available_width().max(200.0);
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, 150.0), Sense::hover());
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    let text = visuals.text_color();
    let weak = visuals.weak_text_color();
    painter.rect_filled(rect, 2.0, visuals.extreme_bg_color);

    let largest_ms = histories
        .iter()
        .map(History::max_frame_ms)
        .fold(0.0, f32::max);
    let top_ms = y_max_ms(largest_ms, budget_ms);
    let left_s = now_s - WINDOW_S;
    let to_screen = |time_s: f64, ms: f32| {
        let x = rect.left() + rect.width() * ((time_s - left_s) / WINDOW_S) as f32;
        let y = rect.bottom() - rect.height() * (ms / top_ms).clamp(0.0, 1.0);
        Pos2::new(x.max(rect.left()), y)
    };

    let font = FontId::proportional(11.0);
    let budget_y = to_screen(now_s, budget_ms).y;
    painter.add(Shape::dashed_line(
        &[
            Pos2::new(rect.left(), budget_y),
            Pos2::new(rect.right(), budget_y),
        ],
        Stroke::new(1.0, Color32::WHITE),
        6.0,
        4.0,
    ));
    painter.text(
        Pos2::new(rect.left() + 4.0, budget_y - 2.0),
        Align2::LEFT_BOTTOM,
        format!("{budget_ms:.0} ms budget"),
        font.clone(),
        text,
    );
    painter.text(
        rect.left_top() + Vec2::new(4.0, 2.0),
        Align2::LEFT_TOP,
        format!("{top_ms:.1} ms"),
        font.clone(),
        weak,
    );
    painter.text(
        rect.left_bottom() + Vec2::new(4.0, -2.0),
        Align2::LEFT_BOTTOM,
        format!("-{WINDOW_S:.0} s"),
        font.clone(),
        weak,
    );
    painter.text(
        rect.right_bottom() + Vec2::new(-4.0, -2.0),
        Align2::RIGHT_BOTTOM,
        "now",
        font,
        weak,
    );

    for (index, history) in histories.iter().enumerate() {
        // Samples older than the window are skipped; the one just before it anchors the left edge.
        let points: Vec<Pos2> = history
            .iter()
            .filter(|s| s.time_s >= left_s - 1.0)
            .map(|s| to_screen(s.time_s, s.frame_ms))
            .collect();
        if points.len() >= 2 {
            painter.add(Shape::line(points, Stroke::new(1.5, backend_colour(index))));
        }
    }
    painter.rect_stroke(rect, 2.0, Stroke::new(1.0, weak), StrokeKind::Inside);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y_axis_covers_the_budget_and_grows_in_quarter_steps() {
        assert_eq!(y_max_ms(0.3, 10.0), 12.5);
        assert_eq!(y_max_ms(12.4, 10.0), 12.5);
        assert_eq!(y_max_ms(12.6, 10.0), 15.0);
        assert_eq!(y_max_ms(31.0, 10.0), 32.5);
        assert_eq!(backend_colour(5), PALETTE[1]);
    }
}
