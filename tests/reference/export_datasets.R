# Export the datasets bundled with the `multilevel` package.
#
# Run from the repository root:
#
#     Rscript tests/reference/export_datasets.R
#
# For every dataset this writes, into src/multilevel/datasets/data/,
#   * <name>.csv  - no row names, NA as an empty field, numbers at the
#                   precision write.csv() uses (15 significant digits);
#   * <name>.json - a sidecar with name, title, source, description, nrow,
#                   one-line column descriptions and, for every column that is
#                   an R factor, its levels in R's order ("categories") so that
#                   the Python loader can rebuild categoricals with the same
#                   level order (and hence the same reference level / contrasts).
#                   Columns that are *ordered* factors in R are listed in
#                   "ordered".
#
# Requires the R packages lme4, mlmRev, MASS, nlme and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(mlmRev)
  library(MASS)
  library(nlme)
  library(jsonlite)
})

# write_dataset(): the CSV + JSON sidecar writer shared by the export scripts
source(file.path("tests", "reference", "dataset_writer.R"))

# Round half away from zero on the decimal representation.  All the HSB
# values used below have exactly three decimals, so going through integer
# thousandths avoids binary floating-point ties being resolved downwards
# (R's round(23.765, 2) gives 23.76; the published LeeBryk file has 23.77).
round2_half_away <- function(x) {
  k <- round(x * 1000)
  stopifnot(all(abs(x * 1000 - k) < 1e-6, na.rm = TRUE))
  sign(k) * floor((abs(k) + 5) / 10) / 100
}


## 1. gcsemv --------------------------------------------------------------
gcsemv <- mlmRev::Gcsemv
# Make male the reference category, as in the rstanarm/lme4 tutorial.
gcsemv$female <- relevel(gcsemv$gender, "M")

write_dataset(
  gcsemv, "gcsemv",
  title = "GCSE science exam scores of 1905 students in 73 English schools",
  source = paste(
    "R package mlmRev, dataset Gcsemv (Rasbash, J. et al. (2000),",
    "'Multivariate response models', in A User's Guide to MLwiN,",
    "Institute of Education, University of London)"),
  description = paste(
    "General Certificate of Secondary Education (GCSE) scores on a science",
    "subject for 1,905 students from 73 schools in England. Two components",
    "of the exam are recorded: the written paper and the coursework paper;",
    "both contain missing values (empty fields). The extra column 'female'",
    "is relevel(gender, 'M'), i.e. the gender factor with male as the",
    "reference level (levels M, F)."),
  columns = c(
    school = "School ID (factor, 73 levels)",
    student = "Student ID within school (factor, 649 levels)",
    gender = "Gender of student (factor, levels F, M)",
    written = "Total score on the written paper (missing for 202 students)",
    course = "Total score on the coursework paper (missing for 180 students)",
    female = "Gender with male as reference: relevel(gender, 'M') (factor, levels M, F)"
  ))


## 2. hsb82 ---------------------------------------------------------------
hsb82 <- mlmRev::Hsb82

write_dataset(
  hsb82, "hsb82",
  title = "High School and Beyond 1982: mathematics achievement of 7185 students in 160 schools",
  source = paste(
    "R package mlmRev, dataset Hsb82 (Raudenbush, S. W. and Bryk, A. S.",
    "(2002), Hierarchical Linear Models: Applications and Data Analysis",
    "Methods, 2nd ed., Sage, chapter 4)"),
  description = paste(
    "Data on 7,185 students in 160 US high schools from the 1982 'High",
    "School and Beyond' survey, the classic example of Raudenbush and Bryk.",
    "One row per student. 'school' is an ordered factor in R (its level",
    "order is not numeric); 'meanses' is the mean of 'ses' over the sampled",
    "students of the school and 'cses' = ses - meanses."),
  columns = c(
    school = "School ID (ordered factor, 160 levels)",
    minrty = "Student belongs to a minority (factor, levels No, Yes)",
    sx = "Sex of student (factor, levels Male, Female)",
    ses = "Socio-economic status score",
    mAch = "Mathematics achievement score",
    meanses = "Mean of ses over the sampled students of the school",
    sector = "School sector (factor, levels Public, Catholic)",
    cses = "School-centred ses: ses - meanses"
  ))


## 3. leebryk -------------------------------------------------------------
# The Lee & Bryk (1989) subset in the form of the file 'LeeBryk.csv' used in
# the multilevel-regression notes: schoolid 1..160 (schools numbered in
# increasing order of their HSB id, which is also the order in which they
# appear), and all numbers rounded to 2 decimals.  'mses' there is the
# school-level MEANSES of the HSB school file (the mean over the whole HSB
# school sample), which R ships as nlme::MathAchieve$MEANSES; it differs
# slightly from mlmRev's 'meanses' (the mean over the sampled students).
hsb <- mlmRev::Hsb82
mathach <- nlme::MathAchieve
stopifnot(identical(as.character(hsb$school), as.character(mathach$School)),
          isTRUE(all.equal(hsb$mAch, mathach$MathAch)),
          isTRUE(all.equal(hsb$ses, mathach$SES)))
school_num <- as.integer(as.character(hsb$school))
leebryk <- data.frame(
  schoolid = match(school_num, sort(unique(school_num))),
  math = round2_half_away(hsb$mAch),
  ses = round2_half_away(hsb$ses),
  mses = round2_half_away(mathach$MEANSES),
  sector = as.integer(hsb$sector == "Catholic")
)
stopifnot(!is.unsorted(leebryk$schoolid))

write_dataset(
  leebryk, "leebryk",
  title = "Lee & Bryk (1989) school achievement data: math scores of 7185 seniors in 160 schools",
  source = paste(
    "R packages mlmRev, dataset Hsb82, and nlme, dataset MathAchieve",
    "(Lee, V. E. and Bryk, A. S. (1989), 'A multilevel model of the social",
    "distribution of high school achievement', Sociology of Education 62,",
    "172-192; Raudenbush and Bryk (2002), Hierarchical Linear Models, Sage)"),
  description = paste(
    "High School and Beyond subset analysed by Lee and Bryk (1989): 7,185",
    "students (level 1) in 160 schools (level 2). Built from mlmRev::Hsb82:",
    "schoolid numbers the schools 1..160 in increasing order of their HSB",
    "id, math = mAch, ses = ses, sector = 0 (public) / 1 (Catholic); mses is",
    "the school-level mean SES of the HSB school file (nlme::MathAchieve",
    "MEANSES), not the mean over the sampled students. Like the published",
    "LeeBryk.csv, math, ses and mses are rounded to 2 decimals, half away",
    "from zero. With this coding lmer reproduces the published output",
    "exactly: math ~ 1 + (1|schoolid) gives REML criterion 47116.7,",
    "variances 8.614 / 39.148 and intercept 12.6374; adding mses + sector",
    "gives 46946.3; the random-slope model with ses and its cross-level",
    "interactions gives 46505.1. (mlmRev's meanses, or unrounded values,",
    "give criteria that differ by 0.1-0.3.)"),
  columns = c(
    schoolid = "School number, 1..160",
    math = "Mathematics achievement score (2 decimals)",
    ses = "Student socio-economic status (2 decimals)",
    mses = "School mean socio-economic status from the HSB school file (2 decimals)",
    sector = "School sector: 0 = public, 1 = Catholic"
  ))


## 4. anorexia ------------------------------------------------------------
# Long form: one row per girl and time point, ordered by girl then time.
# time is coded 1 = before (Prewt), 2 = after (Postwt), as in the Bayesian
# multilevel notes: with this coding lmer and JAGS reproduce the notes' printed
# estimates of every anorexia model, including model 5 with uncorrelated
# random intercept and time slope, which is not invariant to shifting time.
# rx follows MASS's level order (1 = CBT, 2 = Cont, 3 = FT); rx1 and rx3 are
# the dummies of the notes (Rx1 = cognitive behavioural, Rx3 = family
# treatment, control is the reference).
ano_w <- MASS::anorexia
n_girl <- nrow(ano_w)
anorexia <- data.frame(
  girl = rep(seq_len(n_girl), each = 2),
  time = rep(c(1L, 2L), times = n_girl),
  weight = as.vector(rbind(ano_w$Prewt, ano_w$Postwt)),
  treatment = rep(ano_w$Treat, each = 2)
)
anorexia$rx <- as.integer(anorexia$treatment)
anorexia$rx1 <- as.integer(anorexia$rx == 1L)
anorexia$rx3 <- as.integer(anorexia$rx == 3L)
stopifnot(identical(levels(anorexia$treatment), c("CBT", "Cont", "FT")))

write_dataset(
  anorexia, "anorexia",
  title = "Weight of 72 young female anorexia patients before and after treatment (long form)",
  source = paste(
    "R package MASS, dataset anorexia (Hand, D. J., Daly, F., McConway, K.,",
    "Lunn, D. and Ostrowski, E. (eds) (1993), A Handbook of Small Data Sets,",
    "Chapman & Hall, data set 285; Venables and Ripley (2002), Modern Applied",
    "Statistics with S, 4th ed., Springer)"),
  description = paste(
    "Weight change data for 72 young female anorexia patients under three",
    "treatments: cognitive behavioural treatment (CBT, 29 girls), control",
    "(Cont, 26) and family treatment (FT, 17). MASS::anorexia has one row per",
    "girl (Prewt, Postwt); here it is in long form with one row per girl and",
    "time point (144 rows, ordered by girl then time), girl numbered 1..72",
    "in MASS's row order. time is coded 1 = before, 2 = after treatment, as",
    "in the Bayesian multilevel notes whose anorexia models these data",
    "reproduce. Weights are in lbs. rx, rx1 and rx3 are the numeric",
    "treatment codes and dummies used in the multilevel examples (control is",
    "the reference group)."),
  columns = c(
    girl = "Patient number, 1..72 (row of MASS::anorexia)",
    time = "Time point: 1 = before treatment (Prewt), 2 = after (Postwt)",
    weight = "Weight in lbs",
    treatment = "Treatment (factor, levels CBT, Cont, FT as in MASS)",
    rx = "Treatment code: 1 = CBT (cognitive behavioural), 2 = Cont (control), 3 = FT (family)",
    rx1 = "Dummy: 1 if rx == 1 (cognitive behavioural treatment) else 0",
    rx3 = "Dummy: 1 if rx == 3 (family treatment) else 0"
  ))


## 5. sleepstudy ----------------------------------------------------------
write_dataset(
  lme4::sleepstudy, "sleepstudy",
  title = "Reaction times in a sleep deprivation study (18 subjects, 10 days)",
  source = paste(
    "R package lme4, dataset sleepstudy (Belenky, G. et al. (2003), 'Patterns",
    "of performance degradation and restoration during sleep restriction and",
    "subsequent recovery: a sleep dose-response study', Journal of Sleep",
    "Research 12, 1-12)"),
  description = paste(
    "Average reaction time per day for 18 subjects of the most",
    "sleep-deprived group (3 hours time in bed per night) during the first",
    "10 days of the study. Days 0-1 were adaptation and training, day 2 the",
    "baseline; sleep deprivation started after day 2."),
  columns = c(
    Reaction = "Average reaction time (ms)",
    Days = "Number of days of sleep deprivation (0..9)",
    Subject = "Subject number (factor, 18 levels)"
  ))


## 6. insteval ------------------------------------------------------------
write_dataset(
  lme4::InstEval, "insteval",
  title = "University lecture evaluations by students at ETH Zurich (73421 ratings)",
  source = "R package lme4, dataset InstEval (ETH Zurich lecture evaluations, anonymized; contributed by M. Maechler)",
  description = paste(
    "Students' ratings of lectures at ETH Zurich, anonymized for privacy",
    "protection: 73,421 ratings of 1,128 lecturers by 2,972 students; a",
    "medium-sized example of a partially crossed random-effects design.",
    "All columns except y are factors; their levels are listed in R's order",
    "(dept's reference level is '15'); studage and lectage are ordered",
    "factors in R."),
  columns = c(
    s = "Student ID (factor, 2972 levels)",
    d = "Lecturer (professor) ID (factor, 1128 levels)",
    studage = "Student's 'age': semester number the student has been enrolled (ordered factor 2 < 4 < 6 < 8)",
    lectage = "How many semesters back the rated lecture took place (ordered factor 1 < ... < 6)",
    service = "Lecture is a service lecture, held for a department other than the lecturer's own (factor 0/1)",
    dept = "Department of the lecture, random code (factor, 14 levels)",
    y = "Rating of the lecture, 1 (poor) to 5 (very good)"
  ))


## 7. pastes --------------------------------------------------------------
write_dataset(
  lme4::Pastes, "pastes",
  title = "Paste strength by delivery batch and cask (nested design)",
  source = paste(
    "R package lme4, dataset Pastes (Davies, O. L. and Goldsmith, P. L.",
    "(eds) (1972), Statistical Methods in Research and Production, 4th ed.,",
    "Oliver and Boyd, section 6.5)"),
  description = paste(
    "Strength of a chemical paste product: 10 delivery batches were sampled",
    "at random, three casks were sampled from each batch and two analytical",
    "tests were carried out on each of the 30 samples. Casks are nested in",
    "batches: cask 'a' of batch A is unrelated to cask 'a' of batch B;",
    "'sample' is the batch:cask combination."),
  columns = c(
    strength = "Paste strength",
    batch = "Delivery batch (factor, levels A..J)",
    cask = "Cask within the delivery batch (factor, levels a, b, c)",
    sample = "Sample of paste, i.e. batch:cask (factor, 30 levels A:a..J:c)"
  ))


## 8. penicillin ----------------------------------------------------------
write_dataset(
  lme4::Penicillin, "penicillin",
  title = "Variation in penicillin testing: 6 samples on each of 24 plates (crossed design)",
  source = paste(
    "R package lme4, dataset Penicillin (Davies, O. L. and Goldsmith, P. L.",
    "(eds) (1972), Statistical Methods in Research and Production, 4th ed.,",
    "Oliver and Boyd, section 6.6)"),
  description = paste(
    "Six samples of penicillin were tested using the B. subtilis plate",
    "method on each of 24 plates. The response is the diameter of the zone",
    "of inhibition of growth of the organism. Every sample appears on every",
    "plate, so plate and sample are fully crossed."),
  columns = c(
    diameter = "Diameter (mm) of the zone of inhibition of growth of the organism",
    plate = "Assay plate (factor, levels a..x)",
    sample = "Penicillin sample (factor, levels A..F)"
  ))

## 9. exam ----------------------------------------------------------------
write_dataset(
  mlmRev::Exam, "exam",
  title = "Exam scores of 4059 students in 65 inner-London schools",
  source = paste(
    "R package mlmRev, dataset Exam (Goldstein, H. et al. (1993), 'A",
    "multilevel analysis of school examination results', Oxford Review of",
    "Education 19, 425-433)"),
  description = paste(
    "Normalised GCSE exam scores of 4,059 students aged 16 in 65 inner-London",
    "schools, with the students' standardised London Reading Test score at",
    "intake (age 11), their verbal reasoning band, sex, and the schools'",
    "gender (mixed, boys, girls) and average intake score. The standard",
    "example of estimated marginal means for a linear mixed model."),
  columns = c(
    school = "School ID (factor, 65 levels)",
    normexam = "Normalised exam score at age 16",
    schgend = "School gender (factor, levels mixed, boys, girls)",
    schavg = "School average of the intake score",
    vr = "Student's verbal reasoning band at intake (factor, levels bottom 25%, mid 50%, top 25%)",
    intake = "Band of the student's intake score (factor, levels bottom 25%, mid 50%, top 25%)",
    standLRT = "Standardised London Reading Test score at age 11",
    sex = "Sex of the student (factor, levels F, M)",
    type = "School type (factor, levels Mxd, Sngl)",
    student = "Student ID within school (factor, 650 levels)"
  ))

cat("Wrote datasets to", out_dir, "\n")
